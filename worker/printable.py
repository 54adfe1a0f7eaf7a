"""Text that came from a page, a URL or a container, made safe for a person's terminal.

Such text may carry escape sequences (clear the screen, set the window title, OSC 8 links),
C1 controls, right-to-left overrides that reorder what is shown, or invisible characters.
``printable`` turns each of those into a visible escape (``\\x1b``, ``\\u202e``), so a string
shows every character it holds and controls nothing. JSON output never needs it (JSON escapes
controls itself) and never gets it: it stays exact.
"""

from __future__ import annotations

import re

#: C0 controls, DEL and C1 controls, bidi embeddings, overrides, isolates and marks, and the
#: other invisible format and separator characters a terminal would act on or hide.
UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: object) -> str:
    """``value`` as text that shows every character it holds and controls nothing."""
    return UNSAFE.sub(_escape, str(value))
