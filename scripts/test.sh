#!/usr/bin/env bash
# Set up everything and run the whole test suite: unit (SQLite + PostgreSQL where it answers), UI, e2e (Chromium).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
source scripts/find-chromium.sh
export PYTHONDONTWRITEBYTECODE=1
start=$(date +%s)
# the browser tests get their own pytest run (sync and async Playwright must not share an event loop)
.venv/bin/python -m pytest tests/unit tests/ui -q "$@"
.venv/bin/python -m pytest tests/e2e -q "$@"
echo "Whole suite took $(( $(date +%s) - start )) s."
