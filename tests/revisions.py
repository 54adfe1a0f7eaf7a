"""Finding one of scanbox's revisions by what it does, whatever number it was given."""

from __future__ import annotations

import re

from worker.store.migrations import VERSIONS


def revision_named(name: str) -> tuple[str, str]:
    """The revision in ``versions/NNNN_<name>.py`` and the one it revises: ``(before, it)``."""
    [path] = VERSIONS.glob(f"[0-9][0-9][0-9][0-9]_{name}.py")
    text = path.read_text()
    found = {
        key: re.search(rf'^{key} = "(\w+)"$', text, re.MULTILINE)
        for key in ("revision", "down_revision")
    }
    if found["revision"] is None or found["down_revision"] is None:
        raise AssertionError(f"{path.name} names no revision and down revision")
    return found["down_revision"].group(1), found["revision"].group(1)
