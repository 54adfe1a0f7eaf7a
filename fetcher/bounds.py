"""Size limits on everything the report contains, so one hostile page cannot bloat it."""

from __future__ import annotations

from typing import Any

#: Most entries any list in the report holds.
MAX_LIST_ITEMS = 50
#: Most characters any string in the report holds.
MAX_STRING_CHARS = 2048


def bounded(value: Any) -> Any:
    """Return ``value`` with every list cut to 50 entries and every string to 2048 characters.

    Dictionary keys are the report's own names and are left alone; their values are bounded.
    """
    if isinstance(value, str):
        return value[:MAX_STRING_CHARS]
    if isinstance(value, list | tuple):
        return [bounded(item) for item in value[:MAX_LIST_ITEMS]]
    if isinstance(value, dict):
        return {key: bounded(item) for key, item in value.items()}
    return value
