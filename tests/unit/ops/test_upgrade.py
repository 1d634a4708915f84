"""Upgrades (issue 17): a database made with the first schema revision (0001) and demo-like data, upgraded to head by
``pulse-live migrate``, then the app works on it; ``pulse-live migrate --check`` tells whether anything is pending."""
import asyncio
import hashlib
import os
import subprocess
import sys
import uuid

import asyncpg
import pytest
from alembic import command
from sqlalchemy import select, text

from pulse_live import auth, db
from pulse_live.bus import MemoryBus, set_bus
from pulse_live.config import get_settings, reset_settings
from pulse_live.models import User
from pulse_live.ops import check
from pulse_live.ops.schema import alembic_config, head
from pulse_live.queries import tickets as ticket_queries
from pulse_live.services import chatter, tickets
from tests.conftest import PG_URL, pg_available
from tests.factories import PASSWORD_HASH

FILE = b'%PDF-1.4 the invoice from before the upgrade\n'
FILE_SHA = hashlib.sha256(FILE).hexdigest()
T0 = '2026-01-12 09:00:00'

# the first revision's schema, filled as the demo would have been then (plain SQL: the models have moved on)
REVISION_0001_DATA = [
    "INSERT INTO organisations (id, name, is_provider, tier, created_at) VALUES "
    f"(1, 'Pulse Support', TRUE, 'standard', '{T0}'), (2, 'Acme AG', FALSE, 'gold', '{T0}')",
    "INSERT INTO priority_scales (id, key, name, is_active) VALUES (1, 'pulse', 'Pulse', TRUE)",
    "INSERT INTO priorities (id, scale_id, name, description, rank, color, is_default) VALUES "
    "(1, 1, 'Low', '', 1, 'grey', FALSE), (2, 1, 'Normal', '', 2, 'blue', TRUE), (3, 1, 'High', '', 3, 'red', FALSE)",
    "INSERT INTO queues (id, name, description, is_default) VALUES (1, '1st level', 'First contact', TRUE)",
    "INSERT INTO ticket_types (id, name, position, is_active) VALUES (1, 'Incident', 1, TRUE), "
    "(2, 'Service request', 2, TRUE)",
    "INSERT INTO resolution_codes (id, name, is_active) VALUES (1, 'Fixed', TRUE)",
    "INSERT INTO users (id, email, password_hash, role, organisation_id, display_name, handle, phone, location, "
    "department, card_published, is_active, email_notifications, created_at, last_login_at) VALUES "
    f"(1, 'admin@pulse.demo', '{PASSWORD_HASH}', 'admin', 1, 'Ada Admin', 'ada', '', '', '', TRUE, TRUE, TRUE, "
    f"'{T0}', NULL), "
    f"(2, 'anna@pulse.demo', '{PASSWORD_HASH}', 'agent', 1, 'Anna Agent', 'anna', '+41 31 555 01 02', 'Bern', "
    f"'Support', TRUE, TRUE, TRUE, '{T0}', NULL), "
    f"(3, 'carl@acme.demo', '{PASSWORD_HASH}', 'customer', 2, 'Carl Jensen', NULL, '031 555 77 88', '', '', TRUE, "
    f"TRUE, TRUE, '{T0}', NULL)",
    "INSERT INTO tickets (id, reference, title, description, type_id, priority_id, status, channel, customer_id, "
    "organisation_id, service_id, queue_id, assignee_id, creator_id, affected_components, technical_details, "
    "attempted_solutions, workaround, resolution_code_id, resolution_text, created_at, updated_at, "
    "first_response_at, resolved_at, closed_at, version) VALUES "
    f"(1, 'PL-2026-000001', 'Printer on floor 3 is down', 'It shows error E13.', 1, 3, 'open', 'phone', 3, 2, NULL, "
    f"1, 2, 2, '', '', 'Turned it off and on', '', NULL, '', '{T0}', '{T0}', '{T0}', NULL, NULL, 3), "
    f"(2, 'PL-2026-000002', 'Invoice copy', 'Please send the January invoice again.', 2, 2, 'resolved', 'portal', "
    f"3, 2, NULL, 1, 2, 3, '', '', '', '', 1, 'Sent again.', '{T0}', '{T0}', '{T0}', '{T0}', NULL, 2)",
    "INSERT INTO reference_counters (prefix, year, last_value) VALUES ('PL', 2026, 2)",
    "INSERT INTO team_members (id, ticket_id, user_id, organisation_id, watching, added_how, added_by_id, added_at) "
    f"VALUES (1, 1, 3, NULL, TRUE, 'customer', 2, '{T0}'), (2, 2, 3, NULL, TRUE, 'customer', 3, '{T0}')",
    "INSERT INTO ticket_events (id, ticket_id, kind, actor_id, created_at, body, is_internal, field, old_value, "
    "new_value, data) VALUES "
    f"(1, 1, 'created', 2, '{T0}', '', FALSE, NULL, NULL, NULL, NULL), "
    f"(2, 1, 'message', 3, '{T0}', 'Still broken this morning.', FALSE, NULL, NULL, NULL, NULL), "
    f"(3, 1, 'message', 2, '{T0}', 'Toner sensor, ordering a part.', TRUE, NULL, NULL, NULL, NULL), "
    f"(4, 2, 'created', 3, '{T0}', '', FALSE, NULL, NULL, NULL, NULL), "
    f"(5, 2, 'message', 2, '{T0}', 'Here it is again.', FALSE, NULL, NULL, NULL, NULL), "
    f"(6, 2, 'field_change', 2, '{T0}', '', FALSE, 'status', 'open', 'resolved', NULL)",
    "INSERT INTO attachments (id, ticket_id, event_id, uploader_id, filename, content_type, size, sha256, "
    f"is_internal, created_at) VALUES (1, 2, 5, 2, 'invoice-january.pdf', 'application/pdf', {len(FILE)}, "
    f"'{FILE_SHA}', FALSE, '{T0}')",
    "INSERT INTO notifications (id, user_id, ticket_id, event_id, text, created_at, read_at, mailed_at) VALUES "
    f"(1, 2, 1, 2, 'Carl Jensen replied', '{T0}', NULL, NULL)",
    "INSERT INTO mail_outbox (id, to_addr, to_user_id, ticket_id, subject, body_text, body_html, message_id, "
    "\"references\", status, attempts, next_attempt_at, last_error, created_at, sent_at) VALUES "
    f"(1, 'carl@acme.demo', 3, 2, 'PL-2026-000002', 'Resolved', '', '<old-1@pulse-live>', '', 'sent', 1, '{T0}', "
    f"'', '{T0}', '{T0}')",
]
PG_SEQUENCES = ('organisations', 'priority_scales', 'priorities', 'queues', 'ticket_types', 'resolution_codes',
                'users', 'tickets', 'team_members', 'ticket_events', 'attachments', 'notifications', 'mail_outbox')


@pytest.fixture(params=['sqlite', 'postgresql'])
async def first_revision_install(request, tmp_path, monkeypatch):
    """An installation at revision 0001 with demo-like data and its attachment file; yields the CLI's environment."""
    set_bus(MemoryBus())
    env = {k: v for k, v in os.environ.items() if k != 'PYTEST_CURRENT_TEST'}
    schema = ''
    if request.param == 'sqlite':
        url = f'sqlite+aiosqlite:///{tmp_path / "old" / "pulse.db"}'
    else:
        if not pg_available():
            pytest.skip('PostgreSQL is not answering on 127.0.0.1:5432')
        url, schema = PG_URL, f'pulse_upgrade_{os.getpid()}_{uuid.uuid4().hex[:8]}'
    env.update(PULSE_DATA_DIR=str(tmp_path / 'old'), PULSE_DATABASE_URL=url, PULSE_DATABASE_SCHEMA=schema)
    for name in ('PULSE_DATA_DIR', 'PULSE_DATABASE_URL', 'PULSE_DATABASE_SCHEMA'):
        monkeypatch.setenv(name, env[name])
    reset_settings()
    await asyncio.to_thread(command.upgrade, alembic_config(url), '0001')
    db.init(url, schema=schema)
    async with db.engine().begin() as conn:
        for statement in REVISION_0001_DATA:
            await conn.execute(text(statement))
        if not db.is_sqlite():
            for table in PG_SEQUENCES:
                await conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                        f"(SELECT max(id) FROM {table}))"))
    path = get_settings().attachments_dir / FILE_SHA[:2] / FILE_SHA[2:4] / FILE_SHA
    path.parent.mkdir(parents=True)
    path.write_bytes(FILE)
    await db.dispose()
    yield env
    await db.dispose()
    if schema:
        conn = await asyncpg.connect(PG_URL.replace('postgresql+asyncpg', 'postgresql'))
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS {schema} CASCADE')
        finally:
            await conn.close()


def _cli(env, *args):
    return subprocess.run([sys.executable, '-m', 'pulse_live.cli', *args], capture_output=True, text=True, env=env,
                          timeout=300)


async def test_a_first_revision_database_upgrades_to_head_and_the_app_works_on_it(first_revision_install):
    env = first_revision_install
    pending = await asyncio.to_thread(_cli, env, 'migrate', '--check')
    assert pending.returncode == 1, pending.stdout + pending.stderr
    assert 'database at 0001' in pending.stdout and '  0002  ' in pending.stdout and f'  {head()}  ' in pending.stdout
    upgraded = await asyncio.to_thread(_cli, env, 'migrate')
    assert upgraded.returncode == 0, upgraded.stderr[-3000:]
    current = await asyncio.to_thread(_cli, env, 'migrate', '--check')
    assert current.returncode == 0 and f'up to date (revision {head()})' in current.stdout
    checked = await asyncio.to_thread(_cli, env, 'check')
    assert checked.returncode == 0, checked.stdout + checked.stderr

    db.init(env['PULSE_DATABASE_URL'], schema=env['PULSE_DATABASE_SCHEMA'])
    anna = await auth.authenticate('anna@pulse.demo', 'demo', address='192.0.2.10')  # old passwords still work
    carl = await auth.authenticate('carl@acme.demo', 'demo', address='192.0.2.11')
    view = await ticket_queries.ticket_view(anna, 1)
    assert view is not None and view.ticket.reference == 'PL-2026-000001'
    bodies = [e.body for e in (await ticket_queries.ticket_events(anna, 1))[0]]
    assert 'Still broken this morning.' in bodies and 'Toner sensor, ordering a part.' in bodies
    assert 'Toner sensor, ordering a part.' not in [e.body for e in (await ticket_queries.ticket_events(carl, 1))[0]]
    assert [a.filename for a in await ticket_queries.ticket_attachments(anna, 2)] == ['invoice-january.pdf']
    await chatter.post_message(actor=anna, ticket_id=1, body='After the upgrade: the part arrived.')
    new = await tickets.create_ticket(actor=carl, title='Second printer too', description='Same error E13.')
    assert new.reference.endswith('-000003') or not new.reference.startswith('PL-2026')
    async with db.session() as s:
        assert (await s.execute(select(User.email).where(User.id == 1))).scalar_one() == 'admin@pulse.demo'
    report = await check.run(deep=True)
    assert report.ok and report.orphans == [], report.problems
