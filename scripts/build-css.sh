#!/usr/bin/env bash
# Build pulse_live/static/pulse.css, the app's Tailwind stylesheet, with the Tailwind CLI (run it after adding or
# changing Tailwind classes; tests/unit/test_stylesheet.py fails while a class used in pages/ or components/ is
# missing from it). Needs node and npm; the CLI is installed once into a cache directory outside the repository.
#   bash scripts/build-css.sh
# Trying classes without building: PULSE_TAILWIND_BROWSER=1 runs NiceGUI's in-browser compiler instead.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VERSION=4.1.13  # the version of NiceGUI's in-browser compiler (nicegui/static/tailwindcss.min.js)
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
TOOLS=${PULSE_TAILWIND_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pulse-live/tailwindcss-$VERSION}
CLI=$TOOLS/node_modules/.bin/tailwindcss
if [ ! -x "$CLI" ]; then
  command -v npm >/dev/null || { echo "build-css: npm is needed (Debian: apt-get install nodejs npm)" >&2; exit 1; }
  mkdir -p "$TOOLS"
  (cd "$TOOLS" && npm install --no-audit --no-fund --loglevel=error "@tailwindcss/cli@$VERSION" "tailwindcss@$VERSION")
fi

nicegui=$("$PYTHON" -c 'import nicegui, os; print(os.path.dirname(nicegui.__file__))')
static=pulse_live/static
input=$static/.pulse.build.css
trap 'rm -f "$input"' EXIT
{
  cat "$static/pulse.tailwind.css"
  echo
  echo "/* NiceGUI $("$PYTHON" -c 'import nicegui; print(nicegui.__version__)'): its Python, Vue components, template and"
  echo "   scripts, and Quasar's (not the bundled libraries in its elements, nor the in-browser compiler) */"
  echo "@source \"$nicegui/**/*.py\";"
  echo "@source \"$nicegui/elements/*.{js,vue}\";"
  echo "@source \"$nicegui/templates/*.html\";"
  echo "@source \"$nicegui/static/nicegui.js\";"
  echo "@source \"$nicegui/static/utils/*.js\";"
  echo "@source \"$nicegui/static/quasar.umd.prod.js\";"
} >"$input"
# bare imports ("tailwindcss") resolve from the CLI's own directory
NODE_PATH=$TOOLS/node_modules "$CLI" --input "$input" --output "$static/pulse.css"
echo "build-css: $static/pulse.css ($(wc -c <"$static/pulse.css") bytes)"
