"""MkDocs hooks: the pages' tables that the code itself holds, rendered when the site builds.

Two markers become tables:

- :data:`SETTINGS_MARKER` in ``configuration.md``: one row per field of
  ``worker.settings.Settings``, a table a section, with its environment name, default, type,
  constraints, and the ``#:`` comment above the field in its section's module
  (``worker/settings/``), the one place a setting is documented;
- :data:`LAYERS_MARKER` in ``architecture.md``: the parts of ``worker`` each part may import,
  from ``worker.LAYERS``, the rule ``tests/unit/test_layout.py`` enforces.

A field without a ``#:`` comment, a type or constraint this module has no words for, a marker
missing from its page or found on another one: each fails the build, so these tables can't
drift from the code.
"""

from __future__ import annotations

import ast
import inspect
import types
import typing
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import annotated_types
from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic.types import AllowInfNan
from pydantic_settings import BaseSettings, NoDecode

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files
    from mkdocs.structure.pages import Page

#: Where ``configuration.md`` gets the settings reference.
SETTINGS_MARKER = "<!-- settings-reference -->"
#: Where ``architecture.md`` gets the table of allowed imports.
LAYERS_MARKER = "<!-- import-rule -->"
#: Field metadata that says how a value is read, not what it may be.
_NOT_CONSTRAINTS: tuple[object, ...] = (NoDecode,)
#: Durations in milliseconds, largest unit first, for the default column.
_MS_UNITS = (("day", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1_000))
#: Sizes in bytes, largest unit first.
_BYTE_UNITS = (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10))
#: The unit a setting's name ends in, as the type column shows it.
_NAME_UNITS = (("_ms", "ms"), ("_mb", "MiB"), ("_bytes", "bytes"), ("_days", "days"))


class UnrenderableError(Exception):
    """The code can't be rendered faithfully (a setting lacks its documentation, say)."""


def field_comments(source: str, *, class_name: str) -> dict[str, str]:
    """The ``#:`` comment above each annotated field of ``class_name`` in ``source``.

    Comment lines are joined with spaces; reStructuredText's double backticks become
    Markdown's single ones.
    """
    lines = source.splitlines()
    tree = ast.parse(source)
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name]
    if len(classes) != 1:
        raise UnrenderableError(f"no single class {class_name!r} in the settings source")
    comments: dict[str, str] = {}
    for node in classes[0].body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        text: list[str] = []
        index = node.lineno - 2
        while index >= 0 and lines[index].strip().startswith("#:"):
            text.insert(0, lines[index].strip().removeprefix("#:").strip())
            index -= 1
        if text:
            comments[node.target.id] = " ".join(text).replace("``", "`")
    return comments


def env_name(settings: type[BaseSettings], name: str, field: FieldInfo) -> str:
    """The environment variable a field is read from."""
    if isinstance(field.validation_alias, str):
        return field.validation_alias.upper()
    prefix = str(settings.model_config.get("env_prefix") or "")
    return f"{prefix}{name}".upper()


def _members(annotation: Any) -> tuple[Any, ...]:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return typing.get_args(annotation)
    return (annotation,)


def type_text(annotation: Any) -> str:
    """A field's type in words (``None`` in a union is shown by the default instead)."""
    members = [member for member in _members(annotation) if member is not type(None)]
    if len(members) != 1:
        return " or ".join(type_text(member) for member in members)
    kind = members[0]
    origin = typing.get_origin(kind)
    if origin is typing.Literal:
        return "string"
    if origin is tuple:
        return "comma-separated list"
    names: dict[Any, str] = {
        str: "string",
        int: "integer",
        float: "number",
        bool: "boolean",
        SecretStr: "secret string",
    }
    if kind not in names:
        raise UnrenderableError(f"no words for the type {kind!r}")
    return names[kind]


def _with_unit(value: int, units: tuple[tuple[str, int], ...]) -> str:
    for unit, size in units:
        if value >= size and value % size == 0:
            count = value // size
            return f"{count} {unit}{'s' if unit == 'day' and count > 1 else ''}"
    return ""


def unit_text(name: str) -> str:
    """The unit a setting's value is in, read from the end of its name (empty: none)."""
    return next((unit for suffix, unit in _NAME_UNITS if name.endswith(suffix)), "")


def default_text(name: str, value: object) -> str:
    """A field's default as it is written in the environment, with its unit where it has one."""
    if value is None:
        return "unset"
    if value in ("", ()):
        return "empty"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    text = f"`{value}`"
    if isinstance(value, int) and value:
        units = _MS_UNITS if name.endswith("_ms") else _BYTE_UNITS if "bytes" in name else ()
        reading = _with_unit(value, units)
        if reading:
            text += f" ({reading})"
    return text


def _bounds(metadata: list[Any]) -> Iterator[str]:
    low: str | None = None
    high: str | None = None
    for item in metadata:
        if item in _NOT_CONSTRAINTS:
            continue
        if isinstance(item, annotated_types.Ge):
            low = f"{item.ge}"
        elif isinstance(item, annotated_types.Gt):
            yield f"more than {item.gt}"
        elif isinstance(item, annotated_types.Le):
            high = f"{item.le}"
        elif isinstance(item, annotated_types.Lt):
            yield f"less than {item.lt}"
        elif isinstance(item, annotated_types.MinLen):
            yield f"at least {item.min_length} long"
        elif isinstance(item, annotated_types.MaxLen):
            yield f"at most {item.max_length} long"
        elif isinstance(item, AllowInfNan) and not item.allow_inf_nan:
            yield "finite"
        else:
            raise UnrenderableError(f"no words for the constraint {item!r}")
    if low is not None and high is not None:
        yield f"{low} to {high}"
    elif low is not None:
        yield f"≥ {low}"
    elif high is not None:
        yield f"≤ {high}"


def constraints_text(field: FieldInfo, *, validated: bool) -> str:
    """What values a field accepts beyond its type: bounds, choices, a format check."""
    parts = list(_bounds(field.metadata))
    for member in _members(field.annotation):
        if typing.get_origin(member) is typing.Literal:
            parts.append("one of " + ", ".join(f"`{c}`" for c in typing.get_args(member)))
    if validated:
        parts.append("format checked when settings load")
    return "; ".join(parts)


def _validated_fields(settings: type[BaseSettings]) -> set[str]:
    """Fields with a validator that checks the value (not only one that reshapes it first)."""
    checked: set[str] = set()
    for decorator in settings.__pydantic_decorators__.field_validators.values():
        if decorator.info.mode != "before":
            checked.update(decorator.info.fields)
    return checked


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def sections(settings: type[BaseSettings]) -> list[type[BaseSettings]]:
    """The classes that declare ``settings``' fields, in the order their tables come.

    scanbox's ``Settings`` is made of sections, one base class each; a class that declares
    its fields itself is its only section.
    """
    bases = [
        base
        for base in settings.__bases__
        if issubclass(base, BaseSettings) and base is not BaseSettings
    ]
    return bases or [settings]


def _table(
    settings: type[BaseSettings], section: type[BaseSettings], *, validated: set[str]
) -> list[str]:
    comments = field_comments(
        inspect.getsource(inspect.getmodule(section) or section), class_name=section.__name__
    )
    missing = [name for name in section.model_fields if name not in comments]
    if missing:
        raise UnrenderableError(
            f"settings without a #: comment in {section.__module__}: {', '.join(missing)}"
        )
    rows = [
        "| Variable | Default | Type | Accepts | What it does |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in section.model_fields:
        field = settings.model_fields[name]
        variable = env_name(settings, name, field)
        cells = (
            f'<code id="{variable.lower()}">{variable}</code>',
            default_text(name, field.default),
            type_text(field.annotation) + (f" ({unit})" if (unit := unit_text(name)) else ""),
            constraints_text(field, validated=name in validated),
            comments[name],
        )
        rows.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return rows


def settings_reference(settings: type[BaseSettings] | None = None) -> str:
    """The reference for ``settings`` (by default scanbox's ``Settings``): a table a section,
    under a heading from the first line of the section's docstring."""
    if settings is None:
        from worker.settings import Settings  # noqa: PLC0415 (read at build time)

        settings = Settings
    parts = sections(settings)
    listed = [name for section in parts for name in section.model_fields]
    if sorted(listed) != sorted(settings.model_fields):
        raise UnrenderableError(f"{settings.__name__}'s sections do not list each field once")
    validated = _validated_fields(settings)
    lines: list[str] = []
    for section in parts:
        if section is not settings:
            title = (inspect.getdoc(section) or "").splitlines()
            if not title:
                raise UnrenderableError(f"the section {section.__name__} has no docstring")
            lines += [f"### {title[0].rstrip('.')}", ""]
        lines += [*_table(settings, section, validated=validated), ""]
    return "\n".join(lines)


def _names(parts: frozenset[str] | set[str]) -> str:
    return ", ".join(f"`{part}`" for part in sorted(parts))


def layers_reference() -> str:
    """The import rule as a table: each part of ``worker`` and what it may import.

    Parts come lowest first (fewest allowed imports), then by name, so the table reads
    bottom-up and doesn't depend on the order of a set.
    """
    import worker  # noqa: PLC0415 (read at build time)

    rows = ["| part of `worker` | may import, besides itself |", "| --- | --- |"]
    for part in sorted(worker.LAYERS, key=lambda name: (len(worker.LAYERS[name]), name)):
        words = []
        rest = set(worker.LAYERS[part])
        if rest >= worker.FOUNDATION:
            words.append("the foundation")
            rest -= worker.FOUNDATION
        if rest >= worker.LOW:
            words.append("the low packages")
            rest -= worker.LOW
        if rest:
            words.append(_names(rest))
        rows.append(f"| `{part}` | {', '.join(words) or 'nothing'} |")
    rows.append("")
    rows.append(f"The foundation is {_names(worker.FOUNDATION)}; the low packages are")
    rows.append(f"{_names(worker.LOW)}.")
    return "\n".join(rows) + "\n"


#: Each marker, the page (relative to ``docs/``) it belongs on, and what replaces it.
GENERATED: dict[str, tuple[str, Callable[[], str]]] = {
    SETTINGS_MARKER: ("configuration.md", settings_reference),
    LAYERS_MARKER: ("architecture.md", layers_reference),
}


def on_page_markdown(markdown: str, /, *, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Put each generated table where its page asks for it."""
    from mkdocs.exceptions import PluginError  # noqa: PLC0415 (MkDocs is there when it runs)

    for marker, (home, render) in GENERATED.items():
        here = page.file.src_uri == home
        if marker not in markdown:
            if here:
                raise PluginError(f"{home} has lost its marker {marker}")
            continue
        if not here:
            raise PluginError(f"{page.file.src_uri}: {marker} belongs in {home}")
        try:
            markdown = markdown.replace(marker, render())
        except UnrenderableError as error:
            raise PluginError(str(error)) from error
    return markdown
