"""The classifier decides alike on the host's interpreter and on the fetcher image's own.

The case table (``tests/unit/fetcher/address_cases.py``) and a stdlib runner are mounted
read-only into a container of the fetcher image, which classifies every case with the
``fetcher.addresses`` built into the image and prints the decisions as JSON.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import docker

from fetcher.addresses import classify
from tests.unit.fetcher.address_cases import CASES

HERE = Path(__file__).resolve().parent
CASES_FILE = HERE.parent / "unit" / "fetcher" / "address_cases.py"
RUNNER_FILE = HERE / "address_runner.py"


def _in_image(client: docker.DockerClient, image: str) -> dict[str, Any]:
    output = client.containers.run(
        image,
        entrypoint=["python3", "-S", "/cases/address_runner.py", "/cases/address_cases.py"],
        environment={"PYTHONPATH": "/opt/scanbox"},
        volumes={
            str(CASES_FILE): {"bind": "/cases/address_cases.py", "mode": "ro"},
            str(RUNNER_FILE): {"bind": "/cases/address_runner.py", "mode": "ro"},
        },
        network_mode="none",
        user="65534:65534",
        read_only=True,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        remove=True,
        stdout=True,
        stderr=False,
    )
    result: dict[str, Any] = json.loads(output)
    return result


def test_the_fetcher_images_interpreter_decides_every_case_as_expected(
    docker_client: docker.DockerClient, fetcher_image: str, figures: list[dict[str, Any]]
) -> None:
    result = _in_image(docker_client, fetcher_image)
    decisions = [tuple(decision) for decision in result["decisions"]]
    expected = [(address, list(networks), category) for address, networks, category in CASES]
    on_host = [
        (
            address,
            list(networks),
            classify(
                ipaddress.ip_address(address),
                allowed_networks=[ipaddress.ip_network(network) for network in networks],
            ),
        )
        for address, networks, _ in CASES
    ]

    assert len(decisions) == len(CASES)
    image_differs = [
        (want, got) for want, got in zip(expected, decisions, strict=True) if want != got
    ]
    host_differs = [
        (host, got) for host, got in zip(on_host, decisions, strict=True) if host != got
    ]
    assert image_differs == []
    assert host_differs == []
    figures.append({"image_python": result["python"], "cases": len(CASES)})
