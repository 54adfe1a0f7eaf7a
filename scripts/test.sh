#!/usr/bin/env bash
# Set everything up, then run every check: ruff, ruff format, mypy --strict, the documentation
# site (mkdocs build --strict, into build/site), and pytest (unit and integration tests, on a
# real Docker engine and real Redis).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/mkdocs build --strict --quiet
.venv/bin/pytest "$@"
