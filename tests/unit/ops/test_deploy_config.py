"""The shipped nginx site (deploy/nginx/pulse-live.conf) and the processes behind it agree."""
from __future__ import annotations

import re
from pathlib import Path

import uvicorn

from pulse_live.app import run_kwargs

SITE = Path(__file__).resolve().parents[3] / 'deploy' / 'nginx' / 'pulse-live.conf'


def _seconds(value: str) -> float:
    number, unit = re.fullmatch(r'(\d+)(ms|s|m)?', value).groups()  # type: ignore[union-attr]
    return int(number) * {'ms': 0.001, 's': 1, 'm': 60, None: 1}[unit]


def test_nginx_closes_idle_upstream_connections_before_a_process_does() -> None:
    """Found by the kill -9 fault test: nginx sent a page reload on a kept-alive connection that the surviving
    process was closing at that moment (uvicorn's default: after 5 s idle; nginx's: 60 s). The reset marked that
    process down too (max_fails=1), and with the killed one down the reload got "502 Bad Gateway" instead of the
    page. nginx must give up an idle connection first."""
    upstream = re.search(r'upstream pulse_live \{(.*?)\n\}', SITE.read_text(), re.S)
    assert upstream is not None
    assert re.search(r'^\s*keepalive \d+;', upstream.group(1), re.M), 'connections to the processes are kept alive'
    timeout = re.search(r'^\s*keepalive_timeout (\S+);', upstream.group(1), re.M)
    nginx_keeps = _seconds(timeout.group(1)) if timeout else 60.0  # nginx's default
    process_keeps = run_kwargs().get('timeout_keep_alive', uvicorn.Config(app=None).timeout_keep_alive)
    assert nginx_keeps < process_keeps, f'nginx keeps idle connections {nginx_keeps} s, a process {process_keeps} s'
