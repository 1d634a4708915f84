#!/usr/bin/env bash
# Set up everything and run the whole test suite: the checks that keep the code's shape, the package installed on its
# own, unit (SQLite + PostgreSQL where it answers), UI, e2e (Chromium).
set -euo pipefail
export PULSE_TEST_TOOLS=1
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
source scripts/find-chromium.sh
source scripts/find-dovecot.sh
source scripts/find-nginx.sh
export PYTHONDONTWRITEBYTECODE=1
start=$(date +%s)
echo "== the shape of the code: layers (import-linter contracts), types (mypy), lint (ruff), all in pyproject.toml"
.venv/bin/lint-imports
.venv/bin/mypy
.venv/bin/ruff check pulse_live pages components
echo "== the package installs on its own (a wheel in a fresh venv serves the demo)"
bash scripts/check-wheel.sh
# the browser tests get their own pytest run (sync and async Playwright must not share an event loop)
.venv/bin/python -m pytest tests/unit tests/ui -q "$@"
.venv/bin/python -m pytest tests/e2e -q "$@"
echo "Whole suite took $(( $(date +%s) - start )) s."
