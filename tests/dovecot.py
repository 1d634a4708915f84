"""A real IMAP server for the tests: Debian's dovecot (``dovecot-imapd``) as a private instance on a loopback port.

``scripts/find-dovecot.sh`` installs the package when it is missing (as root). ``Dovecot`` writes its own config
(passwd-file users with plain passwords, Maildir under a temporary directory, logging to a file), starts
``dovecot -F`` as a child process and stops it again; nothing of the system's dovecot is used or touched. Started as
root, dovecot drops privileges to the ``dovecot`` user, so the directory is handed to that user.

Mails go in with IMAP APPEND (``append``), as a mail server's delivery would put them; ``stop``/``start`` make the
server go away mid-IDLE and come back with the same mail store.
"""
from __future__ import annotations

import contextlib
import imaplib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

DOVECOT = os.environ.get('PULSE_DOVECOT', '/usr/sbin/dovecot')


def dovecot_available() -> bool:
    return Path(DOVECOT).exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


def _make_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (TLS and STARTTLS tests)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'localhost')])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName('localhost'),
                                                        x509.IPAddress(ipaddress.ip_address('127.0.0.1'))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / 'cert.pem', directory / 'key.pem'
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class Dovecot:
    users: dict[str, str] = field(default_factory=lambda: {'helpdesk': 'secret'})
    host: str = '127.0.0.1'
    port: int = 0
    tls_port: int = 0
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix='dv', dir='/tmp')))
    process: subprocess.Popen[bytes] | None = None

    @property
    def cert_path(self) -> Path:
        return self.directory / 'cert.pem'

    def _write_config(self) -> Path:
        d = self.directory
        (d / 'run').mkdir(exist_ok=True)
        (d / 'state').mkdir(exist_ok=True)
        if not self.cert_path.exists():
            _make_cert(d)
        if os.geteuid() == 0:
            entry = pwd.getpwnam('dovecot')
            uid, gid, login_user, internal_user = entry.pw_uid, entry.pw_gid, 'dovenull', 'dovecot'
        else:
            uid, gid = os.getuid(), os.getgid()
            login_user = internal_user = pwd.getpwuid(uid).pw_name
        lines = [f'{name}:{{PLAIN}}{password}:{uid}:{gid}::{d}/home/{name}::' for name, password in self.users.items()]
        (d / 'passwd').write_text('\n'.join(lines) + '\n')
        conf = d / 'dovecot.conf'
        conf.write_text(f"""
protocols = imap
listen = {self.host}
base_dir = {d}/run
state_dir = {d}/state
instance_name = pulse-test-{d.name}
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
default_login_user = {login_user}
default_internal_user = {internal_user}
ssl = yes
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2
mail_location = maildir:~/Maildir
first_valid_uid = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {d}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
  inet_listener imaps {{
    address = {self.host}
    port = {self.tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
imap_idle_notify_interval = 2 mins
mail_fsync = never
""")
        if os.geteuid() == 0:
            for path in [d, *d.rglob('*')]:
                os.chown(path, uid, gid)
        return conf

    def start(self) -> Dovecot:
        if not self.port:
            self.port, self.tls_port = free_port(), free_port()
        conf = self._write_config()
        self.process = subprocess.Popen([DOVECOT, '-F', '-c', str(conf)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                errors = self.process.stderr.read().decode() if self.process.stderr else ''
                raise RuntimeError(f'dovecot did not start: {errors}\n{self.log()}')
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=0.2) as s:
                if s.recv(100).startswith(b'* OK'):
                    return self
            time.sleep(0.05)
        raise RuntimeError(f'dovecot did not answer on port {self.port}\n{self.log()}')

    def stop(self) -> None:
        """Stop the server (the mail store stays: ``start`` brings it back on the same ports)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def crash(self) -> None:
        """The server goes away at once, every connection with it (SIGKILL to its whole process group); the mail
        store stays, ``start`` brings it back."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None
        for leftover in (self.directory / 'run').glob('*'):
            with contextlib.suppress(OSError):
                if leftover.is_file() or leftover.is_socket():
                    leftover.unlink()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def log(self) -> str:
        path = self.directory / 'dovecot.log'
        return path.read_text(errors='replace') if path.exists() else ''

    def connect(self, user: str = 'helpdesk') -> imaplib.IMAP4:
        client = imaplib.IMAP4(self.host, self.port)
        client.login(user, self.users[user])
        return client

    def append(self, raw: bytes, *, user: str = 'helpdesk', folder: str = 'INBOX') -> None:
        """Deliver a mail with IMAP APPEND (blocking: call it in a thread from async code)."""
        client = self.connect(user)
        try:
            status, data = client.append(folder, '', imaplib.Time2Internaldate(time.time()), raw)
            if status != 'OK':
                raise RuntimeError(f'APPEND failed: {data!r}')
        finally:
            client.logout()

    def append_many(self, raws: list[bytes], *, user: str = 'helpdesk', folder: str = 'INBOX') -> None:
        client = self.connect(user)
        try:
            for raw in raws:
                client.append(folder, '', imaplib.Time2Internaldate(time.time()), raw)
        finally:
            client.logout()

    def count(self, *, user: str = 'helpdesk', folder: str = 'INBOX') -> int:
        client = self.connect(user)
        try:
            status, data = client.select(folder)
            return int(data[0] or 0)
        finally:
            client.logout()
