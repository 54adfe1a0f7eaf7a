"""Run the classifier cases on whatever interpreter runs this file, and print the decisions.

Standard library and :mod:`fetcher.addresses` only, so the fetcher image's own Python can run
it: ``python3 address_runner.py CASES_FILE`` with ``fetcher`` importable. Prints one JSON
object: the interpreter's version and ``[address, networks, decision]`` for every case.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import sys

from fetcher.addresses import classify


def main(cases_file: str) -> None:
    spec = importlib.util.spec_from_file_location("address_cases", cases_file)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {cases_file}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    decisions = [
        [
            address,
            list(networks),
            classify(
                ipaddress.ip_address(address),
                allowed_networks=[ipaddress.ip_network(network) for network in networks],
            ),
        ]
        for address, networks, _expected in module.CASES
    ]
    print(json.dumps({"python": sys.version.split()[0], "decisions": decisions}))


if __name__ == "__main__":
    main(sys.argv[1])
