#!/usr/bin/env bash
# Set up everything and run the app with demo data on SQLite: http://127.0.0.1:8080
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
exec .venv/bin/pulse-live serve --demo --host "${HOST:-127.0.0.1}" --port "${PORT:-8080}"
