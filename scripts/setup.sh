# Sourced by the scripts: a virtualenv in .venv with the app (editable). The test tools (pytest, Playwright, …) only
# for the test command (scripts/test.sh) or when asked with PULSE_TEST_TOOLS=1; the demo does not need them.
# Nothing is installed again while pyproject.toml is unchanged (a stamp in .venv), so a second start is immediate.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
fi
# the test command (scripts/test.sh, $0 when it sources this file) always gets the test tools
if [ "${PULSE_TEST_TOOLS:-0}" = 1 ] || [ "$(basename "$0")" = test.sh ]; then target='.[test]'; else target='.'; fi
stamp=".venv/.pulse-setup-$(echo "$target" | tr -c 'a-z' '_')-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e "$target"
  touch "$stamp"
fi
