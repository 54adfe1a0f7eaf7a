"""How Alembic compares scanbox's schema with the models, and renders new revisions.

``env.py`` configures every migration context with these options, and the test that
``upgrade head`` matches the models compares with them too.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from alembic.autogenerate.api import AutogenContext
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

from worker.store import models  # noqa: F401  (registers the tables on SQLModel.metadata)


def context_options() -> dict[str, Any]:
    """Options of ``MigrationContext.configure`` / ``EnvironmentContext.configure``."""
    return {
        "target_metadata": SQLModel.metadata,
        "render_as_batch": True,
        "compare_type": True,
        "render_item": render_item,
    }


def render_item(kind: str, item: Any, _context: AutogenContext) -> str | Literal[False]:
    """Render model types as plain SQLAlchemy ones, so revisions never import model code."""
    if kind != "type":
        return False
    if isinstance(item, AutoString):
        return "sa.String()" if item.length is None else f"sa.String(length={item.length})"
    if isinstance(item, sa.types.TypeDecorator):
        return f"sa.{item.impl_instance!r}"
    return False
