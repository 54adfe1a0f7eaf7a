"""Printing on a person's terminal: consoles with markup off, and text that controls nothing.

A title such as ``[bold green]verdict benign[/]`` must print as those characters, not as a fake
verdict, and ``[/]`` must not crash the command: the consoles never parse markup, and every
string from a page, a URL or a container goes through ``worker.printable`` first.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.text import Text

from worker.printable import printable

#: Made safe for the terminal (``worker.printable.printable``).
safe = printable


def text(value: object, *, style: str = "") -> Text:
    """``value`` made safe, as a Rich ``Text`` (never parsed as markup)."""
    return Text(printable(value), style=style)


def console(*, stderr: bool = False) -> Console:
    """A console that prints strings as they are: no markup, no emoji codes, no highlighting."""
    return Console(
        file=sys.stderr if stderr else None,
        markup=False,
        emoji=False,
        highlight=False,
        soft_wrap=True,
    )
