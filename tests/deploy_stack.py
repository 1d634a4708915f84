"""The deployment of docs/DEPLOY.md on loopback, for the tests and benchmarks/load.py: N ``pulse-live serve``
processes on PostgreSQL (a schema of the machine's server) and Redis (a private ``redis-server``), attachments in
S3-compatible storage (moto in server mode), behind Debian's nginx running deploy/nginx/pulse-live.conf — the shipped
file with its ports, names and certificate paths substituted — and TLS with a self-signed certificate.

Everything is started as plain subprocesses and stopped by ``Stack.stop()``; nothing of the machine's services is
touched except one fresh schema in its PostgreSQL (dropped at the end).
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NGINX_SITE = REPO / 'deploy' / 'nginx' / 'pulse-live.conf'
PG_URL = os.environ.get('PULSE_TEST_PG_URL', 'postgresql+asyncpg://postgres@127.0.0.1:5432/test')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def answers(port: int, host: str = '127.0.0.1') -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def nginx_binary() -> str | None:
    found = os.environ.get('PULSE_NGINX') or shutil.which('nginx') or '/usr/sbin/nginx'
    return found if Path(found).exists() else None


def pg_bin() -> str:
    found = sorted(Path('/usr/lib/postgresql').glob('*/bin/initdb'))
    return str(found[-1].parent) if found else ''


def cli(*args: str) -> list[str]:
    script = Path(sys.executable).parent / 'pulse-live'
    return [str(script), *args] if script.exists() else [sys.executable, '-m', 'pulse_live.cli', *args]


def missing_parts() -> str:
    """Why the stack cannot run here ('' when it can)."""
    if not answers(5432):
        return 'PostgreSQL must answer on 127.0.0.1:5432'
    if nginx_binary() is None:
        return "nginx is not installed (scripts/find-nginx.sh installs Debian's package)"
    if shutil.which('redis-server') is None:
        return 'redis-server is not installed'
    if shutil.which('openssl') is None:
        return 'openssl is not installed'
    return ''


def site_config(*, app_ports: list[int], https_port: int, http_port: int, cert: Path, key: Path) -> str:
    """deploy/nginx/pulse-live.conf with this stack's ports and certificate; plus one response header naming the
    process that answered (the tests use it to put two agents on different processes)."""
    text = NGINX_SITE.read_text()
    servers = ''.join(f'    server 127.0.0.1:{p} max_fails=1 fail_timeout=10s;\n' for p in app_ports)
    text, n = re.subn(r'(    server 127\.0\.0\.1:\d+[^\n]*\n)+', servers, text)
    assert n == 1, 'the upstream block of deploy/nginx/pulse-live.conf changed shape'
    text = re.sub(r'\n\s*listen \[::\]:\d+[^\n]*', '', text)
    text = text.replace('listen 80;', f'listen 127.0.0.1:{http_port};')
    text = text.replace('listen 443 ssl;', f'listen 127.0.0.1:{https_port} ssl;')
    text = re.sub(r'ssl_certificate\s+\S+;', f'ssl_certificate {cert};', text)
    text = re.sub(r'ssl_certificate_key\s+\S+;', f'ssl_certificate_key {key};', text)
    text = text.replace('        add_header Set-Cookie', '        add_header X-Pulse-Upstream $upstream_addr always;\n'
                        '        add_header Set-Cookie', 1)
    return text


@dataclass
class AppProcess:
    name: str
    port: int
    log_path: Path
    process: subprocess.Popen | None = None

    def log_tail(self, lines: int = 80) -> str:
        try:
            return '\n'.join(self.log_path.read_text(errors='replace').splitlines()[-lines:])
        except OSError as e:
            return f'(no log: {e})'


@dataclass
class Stack:
    workdir: Path
    processes: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)
    apps: list[AppProcess] = field(default_factory=list)
    schema: str = field(default_factory=lambda: f'pulse_deploy_{os.getpid()}_{uuid.uuid4().hex[:6]}')
    redis_port: int = 0
    https_port: int = 0
    _redis: subprocess.Popen | None = None
    _nginx: subprocess.Popen | None = None
    _moto: subprocess.Popen | None = None
    s3_endpoint: str = ''
    bucket: str = 'pulse-attachments'
    own_postgres: bool = False  # a private PostgreSQL server (initdb in a temp dir) that a test may restart
    pg_port: int = 5432
    _pg_dir: Path | None = None

    # --- the parts ---

    @property
    def url(self) -> str:
        return f'https://127.0.0.1:{self.https_port}'

    @property
    def redis_url(self) -> str:
        return f'redis://127.0.0.1:{self.redis_port}/0'

    def env(self) -> dict[str, str]:
        from tests import s3
        env = {k: v for k, v in os.environ.items() if k not in ('PYTEST_CURRENT_TEST', 'NICEGUI_REDIS_URL')}
        env.update(PULSE_DATA_DIR=str(self.workdir / 'data'), PULSE_DATABASE_URL=self.pg_url,
                   PULSE_DATABASE_SCHEMA=self.schema,
                   PULSE_BUS_URL=self.redis_url, PULSE_BUS_CHANNEL='pulse-live:events',
                   NICEGUI_REDIS_URL=f'redis://127.0.0.1:{self.redis_port}/1', NICEGUI_REDIS_KEY_PREFIX='pulse-live:',
                   PULSE_STORAGE_SECRET='one-secret-for-every-process', PULSE_BASE_URL=self.url,
                   PULSE_SMTP_HOST='127.0.0.1', PULSE_SMTP_PORT='9', PULSE_MAIL_WORKER='false',
                   PULSE_MAIL_INTAKE_WORKER='false', PULSE_ESCALATION_WORKER='false', PYTHONUNBUFFERED='1',
                   PULSE_MAX_SOCKETS_PER_ADDRESS='0',  # load.py's agents all come from this machine
                   **s3.settings_env(self.s3_endpoint, self.bucket))
        env.update(self.extra_env)
        return env

    @property
    def pg_url(self) -> str:
        return PG_URL if not self.own_postgres else f'postgresql+asyncpg://postgres@127.0.0.1:{self.pg_port}/postgres'

    def _pg(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        binary = Path(pg_bin()) / args[0]
        command = [str(binary), *args[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ['runuser', '-u', 'postgres', '--', *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=check)

    def init_postgres(self) -> None:
        import tempfile
        self._pg_dir = Path(tempfile.mkdtemp(prefix='pulse-pg-'))
        if os.geteuid() == 0:
            shutil.chown(self._pg_dir, 'postgres')
        self.pg_port = free_port()
        self._pg('initdb', '-D', str(self._pg_dir / 'data'), '-A', 'trust', '-U', 'postgres')
        self.start_postgres()

    def start_postgres(self) -> None:
        assert self._pg_dir is not None
        self._pg('pg_ctl', '-D', str(self._pg_dir / 'data'), '-l', str(self._pg_dir / 'server.log'), '-w', '-o',
                 f'-p {self.pg_port} -c listen_addresses=127.0.0.1 -k {self._pg_dir} -c fsync=off', 'start')

    def stop_postgres(self) -> None:
        if self._pg_dir is not None:
            self._pg('pg_ctl', '-D', str(self._pg_dir / 'data'), '-m', 'fast', '-w', 'stop', check=False)

    def start_redis(self) -> None:
        if not self.redis_port:
            self.redis_port = free_port()
        redis_dir = self.workdir / 'redis'
        redis_dir.mkdir(exist_ok=True)
        # RDB written at shutdown (a save point is set), so a restart keeps the login sessions, as Debian's default does
        self._redis = subprocess.Popen(['redis-server', '--port', str(self.redis_port), '--bind', '127.0.0.1',
                                        '--save', '3600 1', '--appendonly', 'no', '--dir', str(redis_dir)],
                                       stdout=(self.workdir / 'redis.log').open('ab'), stderr=subprocess.STDOUT)
        _wait(lambda: answers(self.redis_port), 20, 'redis-server did not start')

    def stop_redis(self) -> None:
        if self._redis is not None:
            _end(self._redis)
            self._redis = None

    def start_moto(self) -> None:
        from tests import s3
        port = free_port()
        self._moto = subprocess.Popen(s3._command(port), env={k: v for k, v in os.environ.items()
                                                              if k != 'PYTEST_CURRENT_TEST'},
                                      stdout=(self.workdir / 'moto.log').open('ab'), stderr=subprocess.STDOUT)
        self.s3_endpoint = f'http://127.0.0.1:{port}'
        _wait(lambda: answers(port), 60, 'moto_server did not start')
        _wait(lambda: _http_ok(self.s3_endpoint + '/moto-api/'), 30, 'moto_server did not answer')
        s3.make_bucket(self.s3_endpoint, self.bucket)

    def seed(self, *args: str) -> None:
        done = subprocess.run(cli(*(args or ('demo',))), cwd=self.workdir, env=self.env(), capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]

    def start_app(self, app: AppProcess) -> None:
        app.process = subprocess.Popen(cli('serve', '--host', '127.0.0.1', '--port', str(app.port)), cwd=self.workdir,
                                       env=self.env(), stdout=app.log_path.open('ab'), stderr=subprocess.STDOUT)

    def wait_app(self, app: AppProcess, timeout_s: float = 240) -> None:
        def ready() -> bool:
            assert app.process is not None and app.process.poll() is None, app.log_tail()
            return _http_ok(f'http://127.0.0.1:{app.port}/login')
        _wait(ready, timeout_s, f'app {app.name} did not answer:\n{app.log_tail()}')

    def kill_app(self, app: AppProcess) -> None:
        """kill -9: no shutdown hook runs, its sockets just drop."""
        assert app.process is not None
        app.process.send_signal(signal.SIGKILL)
        app.process.wait(timeout=10)

    def start_nginx(self) -> None:
        ngx = self.workdir / 'nginx'
        for sub in ('body', 'proxy', 'fastcgi', 'uwsgi', 'scgi', 'logs'):
            (ngx / sub).mkdir(parents=True, exist_ok=True)
        cert, key = ngx / 'cert.pem', ngx / 'key.pem'
        if not cert.exists():
            subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj',
                            '/CN=127.0.0.1', '-keyout', str(key), '-out', str(cert)], check=True, capture_output=True,
                           timeout=60)
        self.https_port = self.https_port or free_port()
        (ngx / 'site.conf').write_text(site_config(app_ports=[a.port for a in self.apps], https_port=self.https_port,
                                                   http_port=free_port(), cert=cert, key=key))
        user = 'user root root;\n' if os.geteuid() == 0 else ''
        (ngx / 'nginx.conf').write_text(
            f'{user}worker_processes 1;\npid {ngx}/nginx.pid;\nerror_log {ngx}/logs/error.log warn;\ndaemon off;\n'
            'events { worker_connections 4096; }\n'
            f'http {{\n  access_log {ngx}/logs/access.log;\n  client_body_temp_path {ngx}/body;\n'
            f'  proxy_temp_path {ngx}/proxy;\n  fastcgi_temp_path {ngx}/fastcgi;\n  uwsgi_temp_path {ngx}/uwsgi;\n'
            f'  scgi_temp_path {ngx}/scgi;\n  include {ngx}/site.conf;\n}}\n')
        binary = nginx_binary()
        assert binary is not None
        checked = subprocess.run([binary, '-t', '-p', str(ngx), '-c', str(ngx / 'nginx.conf')], capture_output=True,
                                 text=True, timeout=30)
        assert checked.returncode == 0, checked.stderr
        self._nginx = subprocess.Popen([binary, '-p', str(ngx), '-c', str(ngx / 'nginx.conf')],
                                       stdout=(ngx / 'logs' / 'stdout.log').open('ab'), stderr=subprocess.STDOUT)
        _wait(lambda: answers(self.https_port), 20, 'nginx did not start')

    def start(self, *, seed: tuple[str, ...] = ('demo',)) -> Stack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.own_postgres:
            self.init_postgres()
        self.https_port = self.https_port or free_port()  # the apps' PULSE_BASE_URL names it
        self.start_redis()
        self.start_moto()
        if seed:
            self.seed(*seed)  # also migrates, once, before any app process starts (deploy: pulse-live-migrate)
        self.apps = [AppProcess(name=chr(ord('a') + i), port=free_port(), log_path=self.workdir / f'app-{i}.log')
                     for i in range(self.processes)]
        for app in self.apps:
            self.start_app(app)
        for app in self.apps:
            self.wait_app(app)
        self.start_nginx()
        return self

    def stop(self) -> None:
        for app in self.apps:
            if app.process is not None and app.process.poll() is None:
                _end(app.process)
        for proc in (self._nginx, self._moto):
            if proc is not None:
                _end(proc)
        self.stop_redis()
        if self.own_postgres:
            self.stop_postgres()
            if self._pg_dir is not None:
                shutil.rmtree(self._pg_dir, ignore_errors=True)
            return
        subprocess.run(['psql', '-h', '127.0.0.1', '-U', 'postgres', 'test', '-c',
                        f'DROP SCHEMA IF EXISTS {self.schema} CASCADE'], capture_output=True, timeout=60)

    def logs(self) -> str:
        parts = [f'--- app {a.name} (:{a.port}) ---\n{a.log_tail()}' for a in self.apps]
        error_log = self.workdir / 'nginx' / 'logs' / 'error.log'
        if error_log.exists():
            parts.append('--- nginx error.log ---\n' + '\n'.join(error_log.read_text().splitlines()[-30:]))
        return '\n'.join(parts)

    def app_on(self, upstream: str) -> AppProcess:
        port = int(upstream.rsplit(':', 1)[-1])
        return next(a for a in self.apps if a.port == port)

    def psql(self, sql: str) -> str:
        database = 'postgres' if self.own_postgres else 'test'
        done = subprocess.run(['psql', '-h', '127.0.0.1', '-p', str(self.pg_port), '-U', 'postgres', database, '-At',
                               '-c', sql],
                              env={**os.environ, 'PGOPTIONS': f'-c search_path={self.schema}'}, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()


def _http_ok(url: str) -> bool:
    try:
        context = ssl._create_unverified_context()  # noqa: SLF001 - the fixture's self-signed certificate
        with urllib.request.urlopen(url, timeout=3, context=context) as response:
            return response.status == 200
    except OSError:
        return False


def _wait(check, timeout_s: float, message: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(message)
        time.sleep(0.2)


def _end(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
