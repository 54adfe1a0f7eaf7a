"""The egress proxy depends on the fetcher and scanbox's base modules, nothing else of worker."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import worker
import worker.egress

#: The only parts of worker outside the package that it may load: the foundation's.
ALLOWED = worker.FOUNDATION


def test_importing_every_egress_module_loads_no_other_worker_module() -> None:
    modules = [
        f"worker.egress.{info.name}" for info in pkgutil.iter_modules(worker.egress.__path__)
    ]
    program = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('worker'))))\n"
    )
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, check=True
        ).stdout
    )
    assert len(modules) >= 10
    parts = {name.split(".")[1] for name in loaded if name != "worker"}
    assert parts - {"egress"} <= ALLOWED
