"""The documentation names only what exists: paths, Python names, links, and the state table.

MkDocs (``mkdocs build --strict``) already fails on broken links between pages and on pages
missing from the nav; these tests cover what it can't see: the repository paths and dotted
names written in ``README.md`` and ``docs/*.md``, the README's links into ``docs/``, and the
tables the build generates (``docs/hooks.py``).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import Field
from pydantic_settings import BaseSettings

import worker
from statemachine.states import ALLOWED, TERMINAL, State
from tests.databases import REPOSITORY
from worker.settings import Settings

DOCS = REPOSITORY / "docs"
PAGES = sorted(DOCS.glob("*.md"))
README = REPOSITORY / "README.md"
#: Top-level folders of the repository: a path written from one of them must exist.
ROOTS = frozenset(
    {"worker", "fetcher", "statemachine", "tests", "scripts", "benchmarks", "docs", "demo", ".ci"}
)
#: Files at the top of the repository, when named without a folder.
ROOT_FILE = re.compile(r"(Dockerfile\.\w+|[\w-]+\.(?:ya?ml|toml)|\.env\.example|[A-Z]+\.md)")
#: A run of characters that may be a path, a test id or a dotted name.
TOKEN = re.compile(r"[\w.*/-]+(?:::\w+(?:\[[\w-]+\])?)?")
#: A dotted name in one of scanbox's packages: alone in an inline code span, or called there.
DOTTED = re.compile(r"((?:worker|statemachine|fetcher)(?:\.\w+)+(?::\w+)?)(?:\(.*\))?")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
SPAN = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _load_hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = _load_hooks()


def _documents() -> list[Path]:
    return [README, *PAGES]


def _split(text: str) -> tuple[str, list[tuple[str, str]]]:
    """The prose of a page (fenced blocks removed) and its fenced blocks (language, body)."""
    blocks = [(match.group(1), match.group(2)) for match in FENCE.finditer(text)]
    return FENCE.sub("", text), blocks


def _code_text(text: str) -> Iterator[str]:
    """Every piece of code a page holds: inline spans of its prose, then its fenced blocks."""
    prose, blocks = _split(text)
    yield from SPAN.findall(prose)
    yield from (body for _, body in blocks)


def _paths(text: str) -> Iterator[str]:
    """What the code of a page writes as a repository path (``tests/x.py::test_y`` too)."""
    for code in _code_text(text):
        for found in TOKEN.findall(code):
            token = found.rstrip(".,:;")
            path = token.split("::", 1)[0]
            in_folder = "/" in path and path.split("/", 1)[0] in ROOTS
            if in_folder or ROOT_FILE.fullmatch(path) or re.fullmatch(r"test_\w+\.py", path):
                yield token


def _resolve(token: str) -> Path | None:
    """The file or folder ``token`` names, or ``None``."""
    path = token.split("::", 1)[0]
    if re.fullmatch(r"test_\w+\.py", path):
        found = list((REPOSITORY / "tests").rglob(path))
        return found[0] if len(found) == 1 else None
    if "*" in path:
        return next(iter(REPOSITORY.glob(path)), None)
    candidate = REPOSITORY / path
    return candidate if candidate.exists() else None


@pytest.mark.parametrize("document", _documents(), ids=lambda path: path.name)
def test_every_path_the_docs_name_exists(document: Path) -> None:
    missing = []
    for token in _paths(document.read_text()):
        found = _resolve(token)
        if found is None:
            missing.append(token)
        elif "::" in token:
            test = token.split("::", 1)[1].split("[", 1)[0]
            if not re.search(rf"^def {test}\(", found.read_text(), re.MULTILINE):
                missing.append(token)
    assert missing == []


def _importable(name: str) -> bool:
    """Whether ``package.module.attribute`` (or ``package.module:attribute``) exists."""
    parts = name.replace(":", ".").split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


def _python_imports(text: str) -> Iterator[str]:
    """The names the page's Python blocks import from scanbox's packages."""
    for language, body in _split(text)[1]:
        if language != "python":
            continue
        for node in ast.walk(ast.parse(body)):
            if isinstance(node, ast.ImportFrom) and node.module:
                yield from (f"{node.module}.{alias.name}" for alias in node.names)


@pytest.mark.parametrize("document", _documents(), ids=lambda path: path.name)
def test_every_python_name_the_docs_give_exists(document: Path) -> None:
    text = document.read_text()
    spans = [DOTTED.fullmatch(span) for span in SPAN.findall(_split(text)[0])]
    names = [match.group(1) for match in spans if match]
    names += [name for name in _python_imports(text) if DOTTED.fullmatch(name)]
    assert [name for name in names if not _importable(name)] == []


def _slug(heading: str) -> str:
    """The anchor Python-Markdown's ``toc`` extension gives a heading."""
    text = unicodedata.normalize("NFKD", heading.replace("`", ""))
    text = text.encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _anchors(page: Path) -> set[str]:
    prose, _ = _split(page.read_text())
    return {_slug(line.lstrip("#").strip()) for line in prose.splitlines() if line.startswith("#")}


def test_the_readme_links_into_docs_resolve() -> None:
    links = [link for link in LINK.findall(README.read_text()) if "://" not in link]
    assert links, "the README links into the documentation"
    broken = []
    for link in links:
        path, _, anchor = link.partition("#")
        target = REPOSITORY / path
        if not target.is_file() or (anchor and anchor not in _anchors(target)):
            broken.append(link)
    assert broken == []


def test_every_page_is_in_the_nav() -> None:
    config = (REPOSITORY / "mkdocs.yml").read_text()
    listed = set(re.findall(r"^  - [^:]+: (\S+\.md)$", config, re.MULTILINE))
    assert listed == {page.name for page in PAGES}


def _states(cell: str) -> set[State]:
    if cell == "any non-terminal":
        return set(State) - TERMINAL
    return {State(name.strip()) for name in cell.split(",")}


def test_the_states_table_is_the_codes() -> None:
    section = (DOCS / "architecture.md").read_text().split("## States", 1)[1].split("\n## ")[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    assert lines[0].startswith("| from | to |")
    rows = [line.split("|")[1:3] for line in lines[2:]]
    moves = {
        (source, target)
        for sources, targets in rows
        for source in _states(sources.strip())
        for target in _states(targets.strip())
    }
    assert moves == {(source, target) for source, targets in ALLOWED.items() for target in targets}


def test_the_settings_reference_has_every_setting_with_its_comment() -> None:
    reference: str = hooks.settings_reference()
    rows = [line for line in reference.splitlines() if line.startswith("| <code")]
    assert len(rows) == len(Settings.model_fields)
    comments: dict[str, str] = {}
    listed: list[str] = []
    for section in hooks.sections(Settings):
        assert f"### {section.__doc__.rstrip('.')}\n" in reference
        source = Path(inspect.getfile(section)).read_text()
        comments |= hooks.field_comments(source, class_name=section.__name__)
        listed += list(section.model_fields)
    assert sorted(listed) == sorted(Settings.model_fields)
    for row, name in zip(rows, listed, strict=True):
        field = Settings.model_fields[name]
        assert f">{name.upper()}</code>" in row
        assert comments[name] in row
        if isinstance(field.default, int) and not isinstance(field.default, bool):
            assert f"`{field.default}`" in row
    container_timeout = next(row for row in rows if ">CONTAINER_TIMEOUT_MS<" in row)
    assert "`30000` (30 s)" in container_timeout
    assert "≥ 100" in container_timeout
    assert "integer (ms)" in container_timeout


class _Undocumented(BaseSettings):
    #: Documented.
    documented: int = Field(default=1, ge=0)
    forgotten: str = ""


def test_a_setting_without_its_comment_fails_the_build() -> None:
    with pytest.raises(hooks.UnrenderableError, match="forgotten"):
        hooks.settings_reference(_Undocumented)


class _Section(BaseSettings):
    """A section."""

    #: Documented.
    documented: int = 1


class _ForgetfulSection(BaseSettings):
    """Another section."""

    forgotten: str = ""


class _Sectioned(_Section, _ForgetfulSection):
    pass


class _Stray(_Section):
    #: Declared beside the sections, so in no table.
    stray: int = 0


def test_a_section_without_its_comment_fails_the_build() -> None:
    with pytest.raises(hooks.UnrenderableError, match="forgotten"):
        hooks.settings_reference(_Sectioned)


def test_a_setting_outside_every_section_fails_the_build() -> None:
    with pytest.raises(hooks.UnrenderableError, match="each field once"):
        hooks.settings_reference(_Stray)


def test_the_import_rule_table_names_every_part() -> None:
    table: str = hooks.layers_reference()
    for part in worker.LAYERS:
        assert f"| `{part}` |" in table
    assert "| `scan` | the foundation, the low packages, `submit` |" in table
