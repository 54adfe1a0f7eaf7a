"""How trees of child scans look: JSON for programs, a table and a drawn tree for people.

URLs and states come from pages and the database: every one goes through
``worker.cli.terminal.text`` on its way to a terminal, never through markup.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from worker.cli.terminal import text
from worker.cli.views import state_text
from worker.store.trees import Child, Family, JobBrief, TreeNode


def brief_dict(job: JobBrief | None) -> dict[str, Any] | None:
    """A job of a tree as JSON (``state`` is null for a job that is gone)."""
    if job is None:
        return None
    return {"id": job.job_id, "url": job.url, "state": job.state}


def child_dict(child: Child) -> dict[str, Any]:
    """One child of a scan as JSON."""
    return {**(brief_dict(child.job) or {}), "via": child.via, "created": child.created}


def family_dict(family: Family) -> dict[str, Any]:
    """The keys ``show --json`` adds: ``parent``, ``depth``, ``max_depth``, ``children``."""
    lineage = family.lineage
    return {
        "parent": brief_dict(family.parent),
        "depth": None if lineage is None else lineage.depth,
        "max_depth": None if lineage is None else lineage.max_depth,
        "children": [child_dict(child) for child in family.children],
    }


def tree_dict(node: TreeNode) -> dict[str, Any]:
    """A tree as nested JSON objects, each with its ``children``."""
    data = brief_dict(node.job) or {}
    if node.via is not None:
        data.update(via=node.via, created=node.created)
    data["children"] = [tree_dict(child) for child in node.children]
    return data


def _label(job: JobBrief, *, via: str | None, created: bool, marked: bool) -> Text:
    parts: list[Text | str] = [text(job.job_id), " "]
    parts.append(state_text(job.state) if job.state else text("(gone)", style="dim"))
    if via is not None:
        parts += ["  ", text(via, style="dim")]
    parts += ["  ", text(job.url or "-")]
    if not created:
        parts.append(text("  (linked: scanned already, not followed)", style="dim"))
    if marked:
        parts.append(text("  <", style="bold"))
    return Text.assemble(*parts)


def tree_lines(node: TreeNode, *, marked: str) -> list[Text]:
    """A tree drawn for a terminal, a line per job (lines never wrap: URLs stay whole); the
    job ``marked`` (the one asked about) is pointed at."""

    def label(of: TreeNode) -> Text:
        return _label(of.job, via=of.via, created=of.created, marked=of.job.job_id == marked)

    lines = [label(node)]

    def grow(of: TreeNode, prefix: str) -> None:
        for index, child in enumerate(of.children):
            last = index == len(of.children) - 1
            lines.append(Text.assemble(prefix + ("└── " if last else "├── "), label(child)))
            grow(child, prefix + ("    " if last else "│   "))

    grow(node, "")
    return lines


def family_table(family: Family) -> Table:
    """The parent and children of a job, for ``show``."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    lineage = family.lineage
    if lineage is not None:
        table.add_row("depth", f"{lineage.depth} of {lineage.max_depth}")
    if family.parent is not None:
        parent = family.parent
        table.add_row(
            "parent",
            Text.assemble(
                text(parent.job_id),
                " ",
                state_text(parent.state) if parent.state else text("(gone)"),
            ),
        )
    for index, child in enumerate(family.children):
        table.add_row(
            "children" if index == 0 else "",
            _label(child.job, via=child.via, created=child.created, marked=False),
        )
    return table
