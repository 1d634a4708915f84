"""The process's Prometheus metrics (``prometheus-client``), served by ``/metrics`` (``ops/http.py``).

Counters and histograms are incremented where things happen (the bus, the mail sender, the login check, the HTTP
middleware); gauges that describe state (connected clients, outbox depth, database pool) are read when scraped.
Each process keeps and serves its own figures (no multiprocess mode): Prometheus scrapes every process on its own
port, and sums over ``instance`` (see docs/OPERATIONS.md). This module imports nothing of the app, so any layer
may count into it.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

registry = CollectorRegistry(auto_describe=True)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

connected_clients = Gauge('pulse_live_connected_clients', 'Signed-in browser tabs with a live socket in this process',
                          registry=registry)
online_users = Gauge('pulse_live_online_users', 'Distinct users with a connected tab in this process',
                     registry=registry)
events_published = Counter('pulse_live_events_published_total', 'Live events published by this process (after '
                           'commit)', ['topic'], registry=registry)
events_delivered = Counter('pulse_live_events_delivered_total', 'Live events delivered to this process\'s '
                           'subscribers (pages, presence, workers); origin local or another process',
                           ['topic', 'origin'], registry=registry)
delivery_seconds = Histogram('pulse_live_event_delivery_seconds', 'From publishing after the commit to the end of '
                             'the delivery to this process\'s subscribers (remote: across the bus)',
                             ['origin'], buckets=LATENCY_BUCKETS, registry=registry)
outbox_pending = Gauge('pulse_live_outbox_pending', 'Mails waiting in the outbox (pending)', registry=registry)
outbox_dead = Gauge('pulse_live_outbox_dead', 'Mails that exhausted their retries (dead letters)', registry=registry)
outbox_oldest_age = Gauge('pulse_live_outbox_oldest_pending_age_seconds', 'Age of the oldest pending mail (0: none)',
                          registry=registry)
mails = Counter('pulse_live_mails_total', 'Mails handled by this process\'s sender: sent, retry (failed, to be '
                'retried), dead (failed for good)', ['outcome'], registry=registry)
login_failures = Counter('pulse_live_login_failures_total', 'Refused password logins (wrong password, unknown '
                         'account, throttled)', ['reason'], registry=registry)
request_seconds = Histogram('pulse_live_http_request_seconds', 'HTTP request latency (first path segment)',
                            ['method', 'route', 'status'], buckets=LATENCY_BUCKETS, registry=registry)
db_pool = Gauge('pulse_live_db_pool_connections', 'Database connection pool of this process', ['state'],
                registry=registry)
scrape_errors = Counter('pulse_live_metrics_scrape_errors_total', 'Gauges that could not be read at a scrape',
                        ['gauge'], registry=registry)

for _outcome in ('sent', 'retry', 'dead'):
    mails.labels(_outcome)
for _reason in ('refused', 'throttled'):
    login_failures.labels(_reason)
for _origin in ('local', 'remote'):  # shown from the start (a series that appears late hides its first change)
    delivery_seconds.labels(_origin)
    events_delivered.labels('ticket', _origin)
events_published.labels('ticket')

# routes of the app, as request labels (anything else is "other": a label per URL would grow without bound)
KNOWN_ROUTES = frozenset({'', 'login', 'logout', 'password', 'tickets', 'my', 'queues', 'open', 'new', 'portal',
                          'profile', 'dashboard', 'customers', 'organisations', 'admin', 'attachments', 'api',
                          '_nicegui', 'healthz', 'readyz', 'metrics', 'favicon.ico', 'kb', 'help', 'search',
                          'views'})


def route_label(path: str) -> str:
    first = path.lstrip('/').split('/', 1)[0]
    return f'/{first}' if first in KNOWN_ROUTES else 'other'


# request methods, as request labels: the method is whatever the client sends ("M0000001 /login" is answered like
# any request), and each new value would add a series per bucket for good (20,000 made /metrics 34 MB)
KNOWN_METHODS = frozenset({'GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'})


def method_label(method: object) -> str:
    return method if isinstance(method, str) and method in KNOWN_METHODS else 'other'
