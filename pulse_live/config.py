"""Settings from environment variables (prefix ``PULSE_``) or a ``.env`` file."""
from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

import phonenumbers
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix='PULSE_', env_file='.env', extra='ignore')

    data_dir: Path = Field(default=Path('pulse-data'),
                           description='where the SQLite file, attachments and secrets live')
    database_url: str = Field(default='', description='SQLAlchemy async URL; empty means SQLite in data_dir')
    database_schema: str = Field(default='', description='PostgreSQL schema (search path); empty = the default')
    db_pool_size: int = Field(default=10, ge=1, le=1000, description='PostgreSQL connections kept per process')
    db_max_overflow: int = Field(default=20, ge=0, le=1000, description='PostgreSQL connections opened beyond the '
                                                                        'pool under load, per process')
    db_pool_timeout_s: float = Field(default=30, gt=0, description='a request waits this long for a connection '
                                                                   'before it fails')
    sqlite_inline_writes: bool = Field(default=True, description='SQLite: the one writer runs its statements on the '
                                       'event loop thread (its lock held for its CPU time only, not across loop waits)')
    storage_secret: str = Field(default='',
                                description='signs browser sessions; empty means generated once into data_dir')
    base_url: str = 'http://127.0.0.1:8080'
    bus_url: str = Field(default='', description='redis://… to relay live events between processes; empty = in-process')
    bus_channel: str = Field(default='pulse-live:events', description='Redis channel: one per installation')

    smtp_host: str = '127.0.0.1'
    smtp_port: int = 25
    smtp_user: str = ''
    smtp_password: str = ''
    smtp_tls: str = Field(default='none', pattern='^(none|starttls|tls)$')
    mail_from: str = 'Pulse Live <helpdesk@pulse.local>'

    mail_batch_window_s: float = Field(default=120, description='changes to one ticket for one recipient within '
                                                                'this window make one mail')
    mail_max_attempts: int = 8
    mail_retry_base_s: float = 30
    mail_retry_max_s: float = 3600
    mail_worker: bool = Field(default=True, description='run the mail sender in this process')
    smtp_timeout_s: float = 15

    # attachments (pulse_live/storage.py): the local directory, or S3-compatible object storage every process reads
    storage_backend: str = Field(default='local', pattern='^(local|s3)$',
                                 description='where attachment files live: local (data_dir/attachments) or s3')
    s3_bucket: str = Field(default='', description='the bucket (it must exist)')
    s3_endpoint_url: str = Field(default='', description='the S3 API address; empty = AWS for the region '
                                                         '(e.g. https://minio.example:9000 for others)')
    s3_region: str = Field(default='us-east-1', description='the bucket\'s region')
    s3_access_key_id: str = Field(default='', description='empty = the usual AWS credential chain')
    s3_secret_access_key: str = ''
    s3_prefix: str = Field(default='attachments/', description='object keys start with this')
    s3_addressing: str = Field(default='auto', pattern='^(auto|path|virtual)$',
                               description='bucket in the path or in the host name (path for most non-AWS servers)')

    max_upload_bytes: int = 10 * 1024 * 1024
    max_upload_files: int = 10
    max_pending_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=0,
                                          description='files uploaded but not yet sent, per user over all open pages')
    login_max_failures_per_account: int = 5
    login_max_failures_per_address: int = 20
    login_throttle_window_s: int = 15 * 60
    password_link_ttl_s: int = Field(default=24 * 3600, ge=60,
                                     description='how long a password link (reset or invitation) works')
    ticket_prefix: str = 'PL'
    reopen_days: float = Field(default=14, ge=0,
                               description='a customer may reopen a resolved request within this many days')
    start_work_assigns: bool = Field(default=True,
                                     description='"Start work" on an unassigned ticket makes the agent its assignee')
    composer_default_internal: bool = Field(default=True, description="an agent's composer opens on Internal note "
                                            '(false: on Reply to customer)')
    tailwind_browser: bool = Field(default=False, description='compile Tailwind classes in each browser (NiceGUI\'s '
                                   'compiler; for trying classes in development) instead of the prebuilt '
                                   'pulse_live/static/pulse.css (scripts/build-css.sh)')
    phone_region: str = Field(default='CH', description='country (ISO 3166 code, e.g. CH, DE, GB) in which phone '
                                                        'numbers written without a country code are read')

    # e-mail in (pulse_live/intake/mail.py)
    mail_intake_worker: bool = Field(default=True, description='watch the configured IMAP mailboxes in this process')
    mail_intake_unknown_sender: str = Field(
        default='customer', pattern='^(customer|triage)$',
        description='a mail from an unknown address: customer = a new customer of the organisation whose mail domain '
                    'matches (else needs triage); triage = always a ticket without customer that needs triage')
    mail_intake_closed_reply: str = Field(default='reopen', pattern='^(reopen|new)$',
                                          description='a reply to a closed ticket reopens it, or opens a new ticket '
                                                      'linked to the old one')
    mail_intake_flood_per_minute: int = Field(default=20, ge=1,
                                              description='more mails than this from one sender within a minute '
                                                          'are recorded, not imported')
    mail_intake_max_bytes: int = Field(default=25 * 1024 * 1024, ge=1024,
                                       description='a bigger mail is bounced politely and kept on the admin page')
    mail_intake_dmarc_fail: str = Field(default='triage', pattern='^(triage|ignore)$',
                                        description='a mail whose From address failed DMARC at the receiving server '
                                                    '(its Authentication-Results header): triage = a new ticket '
                                                    'needing triage, never a reply or request of that address; '
                                                    'ignore = taken like any other mail')
    mail_intake_authserv_id: str = Field(default='', max_length=255,
                                         description='the name your receiving mail server writes first in its '
                                                     'Authentication-Results headers (e.g. mx.example.com): every '
                                                     'such header is read for a DMARC failure; empty: the topmost '
                                                     'header only')
    mail_intake_idle: bool = Field(default=True, description='use IMAP IDLE where the server offers it')
    mail_intake_batch_s: float = Field(default=0.5, gt=0, le=30, description='the mails of a fetch are imported in '
                                       'one transaction, committed after this long at most (SQLite: no other write '
                                       'of the process runs meanwhile)')
    mail_intake_poll_s: float = Field(default=60, gt=0, description='poll interval without IDLE (and IDLE renewal)')
    mail_intake_reconnect_max_s: float = Field(default=60, gt=0, description='longest wait before reconnecting')
    mail_intake_claim_s: float = Field(default=60, ge=5, description='a watcher holds its mailbox for this long and '
                                                                     'renews it; another process takes over after')

    customer_requests_per_minute: int = Field(default=5, ge=1, description='new requests one customer may open a '
                                              'minute (a burst of as many), portal and API together: each notifies '
                                              'the desk, so a flood from one account would flood every agent')
    max_sockets_per_address: int = Field(default=500, ge=0, description='open websockets from one network address '
                                         '(pages of every person behind it; 0: no bound)')
    max_pages_per_user: int = Field(default=50, ge=1, description="a person's connected pages in one process; "
                                    'the oldest are closed beyond it (each holds ~0.5 MB of server memory)')
    page_connect_within_s: float = Field(default=20.0, gt=0, description='a page whose socket has not connected this '
                                         'long after it was sent is dropped (a browser connects within seconds; a '
                                         'prefetch, a script or a flood of page loads never does)')
    max_unconnected_pages: int = Field(default=1000, ge=1, description='pages of one process still waiting for their '
                                       'socket; beyond it the oldest are dropped (each holds 70 KB to 1 MB)')
    live_broadcast_from: int = Field(default=8, ge=0, description='a live chatter entry goes to a ticket\'s staff '
                                     'viewers as one socket message for all of them once this many follow it '
                                     'alike (0: never; each page is sent its own update)')
    kb_feedback_per_minute: int = Field(default=10, ge=1, description='"Did this help?" answers a minute from one '
                                        'network address (visitors) or one account (signed in)')
    customer_upload_bytes_per_day: int = Field(default=209_715_200, ge=0, description='bytes of files one customer '
                                               'may send within 24 hours, portal and API together (0: no bound)')
    customer_messages_per_minute: int = Field(default=30, ge=1, description='messages one customer may post a minute '
                                              '(a burst of as many), portal and API together: each reaches every '
                                              "agent watching the ticket; replies by e-mail have the intake's limits")

    # REST API (pulse_live/api)
    api_rate_per_minute: int = Field(default=600, ge=1, description='requests per minute one API token, and one '
                                     'person over all their tokens, may make (a burst of as many is allowed; then '
                                     '429 with Retry-After)')
    api_auth_failures_per_minute: int = Field(default=60, ge=1, description='refused API tokens per minute from one '
                                              'address before it is answered 429 without a lookup')

    # error reports (pulse_live/intake/error_reports.py)
    error_max_body_bytes: int = Field(default=1024 * 1024, ge=1024,
                                      description='largest error report body accepted as sent (compressed)')
    error_max_decompressed_bytes: int = Field(default=4 * 1024 * 1024, ge=1024,
                                              description='largest error report body after decompression')
    error_rate_limit_default: int = Field(default=600, ge=1,
                                          description='events per minute a new reporting source may send')
    error_new_groups_per_minute: int = Field(default=20, ge=1,
                                             description='new error groups (each opens a ticket) per minute one '
                                                         'source may make; events past it are counted, not stored')
    error_flush_s: float = Field(default=0.5, gt=0, description='repeated events are counted in memory and written '
                                                                'in one batch this often')
    error_key_cache_s: float = Field(default=2, ge=0, description='how long a DSN key is trusted without reading '
                                                                 'it again (a revocation takes effect after this)')

    # escalation (pulse_live/escalation_worker.py, pulse_live/notify/webhooks.py)
    escalation_worker: bool = Field(default=True, description='run the escalation worker and the webhook sender in '
                                                              'this process (one process of an installation acts)')
    webhook_allow_private: bool = Field(default=False, description='allow webhook URLs into private, loopback and '
                                                                   'link-local addresses (tests, a gateway on the LAN)')
    webhook_timeout_s: float = Field(default=10, gt=0, description='a webhook receiver must answer within this')
    webhook_max_attempts: int = Field(default=8, ge=1, description='tries before a delivery is a dead letter')
    webhook_retry_base_s: float = Field(default=30, gt=0, description='first retry after about this (doubling)')
    webhook_retry_max_s: float = Field(default=3600, gt=0, description='longest wait between two tries')

    # operations (pulse_live/ops): health, metrics, logs, mail retries after an outage
    metrics_token: str = Field(default='', description='/metrics needs "Authorization: Bearer <this>"; empty: '
                                                       'only direct loopback callers are answered')
    readyz_timeout_s: float = Field(default=2.0, gt=0, description='each /readyz check must answer within this')
    log_format: str = Field(default='text', pattern='^(text|json)$',
                            description='json: one JSON object per line with the request and page (client) id')
    log_level: str = Field(default='INFO', pattern='^(DEBUG|INFO|WARNING|ERROR)$')
    mail_dead_retry_s: float = Field(default=300, ge=0, description='dead mails are tried again once the mail '
                                     'server answers: the oldest is probed this often (0: never; admins retry)')

    # search (pulse_live/search)
    search_language: str = Field(default='simple', pattern='^[a-z_]{1,40}$',
                                 description='PostgreSQL text search configuration of the search index (simple: '
                                             'no stemming, any language; english, german, french, …: stemming and '
                                             'stopwords of that language; SQLite stems only english); run '
                                             '`pulse-live search-reindex` after changing it')

    @field_validator('phone_region')
    @classmethod
    def _known_phone_region(cls, value: str) -> str:
        region = value.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f'{value!r} is not a known country (an ISO 3166 code, e.g. CH, DE, GB)')
        return region

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f'sqlite+aiosqlite:///{(self.data_dir / "pulse.db").resolve()}'

    def resolved_storage_secret(self) -> str:
        if self.storage_secret:
            return self.storage_secret
        path = self.data_dir / 'storage-secret'
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()

    @property
    def attachments_dir(self) -> Path:
        return self.data_dir / 'attachments'


@lru_cache
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (tests change the environment between runs)."""
    get_settings.cache_clear()
