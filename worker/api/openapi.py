"""The OpenAPI document: ``python -m worker.api.openapi [PATH]`` writes it (to
``docs/openapi.json`` by default), the same document ``GET /openapi.json`` serves."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from worker.api.app import build_app

#: Where the committed document is, from the repository's root.
COMMITTED = Path("docs") / "openapi.json"


def document() -> dict[str, Any]:
    """The OpenAPI document of the API's routes (no service is opened to make it)."""
    return build_app().openapi()


def text(data: dict[str, Any]) -> str:
    """The document as committed: indented, in the order FastAPI writes it."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> None:
    """Write the document to ``argv[0]`` (or ``docs/openapi.json``) and print the path."""
    path = Path(argv[0]) if argv else COMMITTED
    path.write_text(text(document()))
    sys.stdout.write(f"{path}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
