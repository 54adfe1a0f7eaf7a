"""``python -m worker.store.migrations MESSAGE``: write the next revision by autogenerate.

Run it from a checkout (an editable install), after changing the models; then read and fix
the file it prints, as the package docstring says.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from worker.store.migrations.commands import new_revision


def main(argv: list[str]) -> int:
    """Write the revision named by ``argv``'s one argument; print its path."""
    if len(argv) != 1 or not argv[0].strip():
        sys.stderr.write('usage: python -m worker.store.migrations "what the revision does"\n')
        return 2
    with tempfile.TemporaryDirectory(prefix="scanbox-revision-") as workdir:
        path = new_revision(message=argv[0].strip(), workdir=Path(workdir))
    sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
