#!/usr/bin/env bash
# The package installs on its own: build the wheel, install it alone into a fresh virtualenv (no test tools, not
# the source tree), start `pulse-live serve --demo` on a free port with a temporary data directory and wait until
# /login answers. Exits non-zero if any step fails (a runtime dependency that is not declared fails here).
#   bash scripts/check-wheel.sh            CHECK_WHEEL_TIMEOUT=120 bash scripts/check-wheel.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
TIMEOUT=${CHECK_WHEEL_TIMEOUT:-90}  # seconds for the server to migrate, seed the demo and answer /login
BUILD_PYTHON=$PYTHON
[ -x .venv/bin/python ] && BUILD_PYTHON=.venv/bin/python
PIP_FLAGS=(-q --disable-pip-version-check)

work=$(mktemp -d "${TMPDIR:-/tmp}/pulse-wheel.XXXXXX")
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "check-wheel: $*" >&2; [ -f "$work/server.log" ] && tail -n 30 "$work/server.log" >&2; exit 1; }
start=$(date +%s)

# 1. the wheel, built from a copy of the working tree (no build/ or *.egg-info left in the repository)
mkdir -p "$work/src" "$work/dist" "$work/data" "$work/run"
tar --exclude=./.git --exclude=./.venv --exclude=./data --exclude=./pulse-data --exclude=./build \
    --exclude='*.egg-info' --exclude='__pycache__' --exclude=./.nicegui --exclude=./test-artifacts \
    --exclude=./.pytest_cache --exclude=./.ruff_cache -cf - . | tar -xf - -C "$work/src"
"$BUILD_PYTHON" -m pip wheel "${PIP_FLAGS[@]}" --no-deps -w "$work/dist" "$work/src" || fail "building the wheel failed"
wheel=$(ls "$work"/dist/pulse_live-*.whl 2>/dev/null | head -n 1)
[ -n "$wheel" ] || fail "no wheel was built"

# 2. a fresh virtualenv with the wheel and what it declares, nothing else
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install "${PIP_FLAGS[@]}" "$wheel" || fail "installing $(basename "$wheel") failed"
for tool in pytest playwright aiosmtpd; do
  if "$work/venv/bin/python" -c "import $tool" 2>/dev/null; then
    fail "$tool is installed in the fresh venv: the app must not depend on the test tools"
  fi
done

# 3. the demo server, from the installed package only (cwd outside the repository, no PULSE_* of the caller)
port=$("$work/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(
  cd "$work/run"
  for var in $(compgen -e | grep -E '^(PULSE_|NICEGUI_)' || true); do unset "$var"; done
  unset PYTHONPATH PYTEST_CURRENT_TEST
  export PULSE_DATA_DIR="$work/data" PULSE_DATABASE_URL="sqlite+aiosqlite:///$work/data/pulse.db" \
         NICEGUI_STORAGE_PATH="$work/data/.nicegui" PULSE_BASE_URL="http://127.0.0.1:$port" PULSE_MAIL_WORKER=false
  exec "$work/venv/bin/pulse-live" serve --demo --host 127.0.0.1 --port "$port"
) >"$work/server.log" 2>&1 &
server_pid=$!

deadline=$(( $(date +%s) + TIMEOUT ))
until status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/login") && [ "$status" = 200 ]; do
  kill -0 "$server_pid" 2>/dev/null || { wait "$server_pid" || true; fail "pulse-live serve --demo exited before /login answered"; }
  [ "$(date +%s)" -lt "$deadline" ] || fail "/login did not answer within ${TIMEOUT} s"
  sleep 0.5
done
echo "check-wheel: $(basename "$wheel") installed alone into a fresh venv; /login answered (took $(( $(date +%s) - start )) s)."
