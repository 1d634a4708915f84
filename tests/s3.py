"""A real S3 API server on loopback for the tests: moto in server mode (``moto_server``), in its own process.

``moto_server()`` starts it on a free port and yields its endpoint; ``make_bucket`` creates a bucket there. The
attachment store (pulse_live/storage.py) talks to it through boto3 exactly as it would to any S3-compatible service.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ACCESS_KEY, SECRET_KEY, REGION = 'pulse-test-key', 'pulse-test-secret', 'us-east-1'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _command(port: int) -> list[str]:
    script = Path(sys.executable).parent / 'moto_server'
    if script.exists():
        return [str(script), '-H', '127.0.0.1', '-p', str(port)]
    found = shutil.which('moto_server')
    if found:
        return [found, '-H', '127.0.0.1', '-p', str(port)]
    return [sys.executable, '-m', 'moto.server', '-H', '127.0.0.1', '-p', str(port)]


@contextlib.contextmanager
def moto_server(log_dir: Path) -> Iterator[str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != 'PYTEST_CURRENT_TEST'}
    log = (log_dir / f'moto-{port}.log').open('wb')
    process = subprocess.Popen(_command(port), env=env, stdout=log, stderr=subprocess.STDOUT)
    endpoint = f'http://127.0.0.1:{port}'
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(endpoint + '/moto-api/', timeout=2):
                    break
            except OSError as problem:
                if process.poll() is not None or time.monotonic() > deadline:
                    log_text = (log_dir / f'moto-{port}.log').read_text()
                    raise RuntimeError(f'moto_server did not start: {log_text}') from problem
                time.sleep(0.2)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def client(endpoint: str):
    import boto3
    return boto3.session.Session().client('s3', endpoint_url=endpoint, region_name=REGION,
                                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)


def make_bucket(endpoint: str, name: str) -> None:
    client(endpoint).create_bucket(Bucket=name)


def settings_env(endpoint: str, bucket: str, prefix: str = 'attachments/') -> dict[str, str]:
    """The PULSE_* variables that point the attachment store at this server."""
    return {'PULSE_STORAGE_BACKEND': 's3', 'PULSE_S3_BUCKET': bucket, 'PULSE_S3_ENDPOINT_URL': endpoint,
            'PULSE_S3_REGION': REGION, 'PULSE_S3_ACCESS_KEY_ID': ACCESS_KEY, 'PULSE_S3_SECRET_ACCESS_KEY': SECRET_KEY,
            'PULSE_S3_PREFIX': prefix, 'PULSE_S3_ADDRESSING': 'path'}


def use_fresh_bucket(endpoint: str, monkeypatch, prefix: str = 'files/') -> str:
    """Point the app's attachment store at a new bucket of ``endpoint`` for one test; returns the bucket's name."""
    import uuid

    from pulse_live.config import reset_settings
    bucket = f'pulse-{uuid.uuid4().hex[:12]}'
    make_bucket(endpoint, bucket)
    for name, value in settings_env(endpoint, bucket, prefix=prefix).items():
        monkeypatch.setenv(name, value)
    reset_settings()
    return bucket
