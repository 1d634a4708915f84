#!/usr/bin/env python3
"""Intake figures (issue 13): mail in, error reports in, the REST API — each measured by its own script, printed here
together.

    .venv/bin/python benchmarks/intake.py                  # 1,000 mails, 10,000 error events, API p95
    .venv/bin/python benchmarks/intake.py --mails 200 --events 2000

Runs ``intake_mail.py``, ``intake_errors.py`` and ``intake_api.py`` one after another (each starts what it needs:
dovecot on a loopback port, a server process on a fresh SQLite data directory), shows their output, and merges the
JSON object each prints on its last line. The last line here is one JSON object with ``mails``, ``mails_per_s``,
``mail_to_screen_p95_ms``, ``error_events``, ``error_events_per_s``, ``error_fingerprints``, ``error_tickets``,
``api_p95_ms`` (plus whatever detail the parts add). Targets on the 2-core reference machine: ≥ 100 mails/s, mail to
screen p95 under 2 s, ≥ 1,000 error events/s grouped into one ticket per fingerprint, API p95 under 50 ms.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_part(script: str, args: list[str]) -> dict:
    print(f'== {script} {" ".join(args)}', flush=True)
    proc = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True, text=True, check=False)
    print(proc.stdout, end='')
    if proc.returncode != 0:
        print(proc.stderr[-4000:], file=sys.stderr)
    lines = [line for line in proc.stdout.strip().splitlines() if line.startswith('{')]
    if not lines:
        return {f'{script}_error': f'exit {proc.returncode}, no figures'}
    return json.loads(lines[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--mails', type=int, default=1000)
    parser.add_argument('--events', type=int, default=10000)
    parser.add_argument('--api-requests', type=int, default=200,
                        help='requests of each kind (list, get, create, message)')
    args = parser.parse_args()
    figures: dict = {}
    figures.update(run_part('intake_mail.py', ['--mails', str(args.mails)]))
    figures.update(run_part('intake_errors.py', ['--events', str(args.events)]))
    figures.update(run_part('intake_api.py', ['--n', str(args.api_requests)]))
    print(json.dumps(figures))
    return 0 if not any(key.endswith('_error') for key in figures) else 1


if __name__ == '__main__':
    sys.exit(main())
