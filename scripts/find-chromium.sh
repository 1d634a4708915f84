# Sourced by the scripts: sets PULSE_CHROMIUM to a Chromium that Playwright can drive, installing one if needed.
# Order: $PULSE_CHROMIUM if set; Playwright's own Chromium (where its download works); Debian's /usr/bin/chromium
# (installed with apt-get when running as root).
if [ -n "${PULSE_CHROMIUM:-}" ]; then
  :
elif .venv/bin/python -m playwright install chromium >/dev/null 2>&1; then
  echo "Using Playwright's own Chromium."
elif [ -x /usr/bin/chromium ]; then
  export PULSE_CHROMIUM=/usr/bin/chromium
elif [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing Debian's chromium…"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  export PULSE_CHROMIUM=/usr/bin/chromium
else
  echo "No Chromium found: install the 'chromium' package (or set PULSE_CHROMIUM to a Chromium binary)." >&2
  exit 1
fi
