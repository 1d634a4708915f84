"""The shipped migration builds exactly the models' schema, and the command line works as documented."""
import os
import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from pulse_live.models import Base
from pulse_live.search import schema as search_schema


def _run(args, tmp_path, stdin=''):
    env = {k: v for k, v in os.environ.items() if k != 'PYTEST_CURRENT_TEST'}
    env.update(PULSE_DATA_DIR=str(tmp_path / 'cli'), PULSE_DATABASE_URL='')
    return subprocess.run([sys.executable, '-m', 'pulse_live.cli', *args], input=stdin, capture_output=True,
                          text=True, env=env, timeout=120)


def test_migrate_builds_the_models_schema(tmp_path):
    result = _run(['migrate'], tmp_path)
    assert result.returncode == 0, result.stderr
    engine = create_engine(f'sqlite:///{tmp_path / "cli" / "pulse.db"}')
    with engine.connect() as conn:
        # the search engine's own index (FTS5 tables, PostgreSQL's tsv) is made beside the models, not by them
        diff = compare_metadata(MigrationContext.configure(conn, opts={'include_name': search_schema.include_name}),
                                Base.metadata)
        scales = conn.exec_driver_sql('SELECT key, is_active FROM priority_scales ORDER BY key').all()
    assert diff == []
    assert scales == [('helpdesk-1-5', 0), ('pulse', 1)]


def test_create_user_reads_password_from_stdin_and_validates(tmp_path):
    ok = _run(['create-user', '--email', 'Zoe@Example.org', '--role', 'agent', '--name', 'Zoe'], tmp_path,
              stdin='s3cret-pass\n')
    assert ok.returncode == 0, ok.stderr
    assert 'Created agent zoe@example.org' in ok.stdout
    again = _run(['create-user', '--email', 'zoe@example.org', '--role', 'agent'], tmp_path, stdin='another\n')
    assert again.returncode != 0 and 'exists already' in again.stderr
    bad = _run(['create-user', '--email', 'not-an-email', '--role', 'agent'], tmp_path, stdin='whatever\n')
    assert bad.returncode != 0 and 'not a valid e-mail' in bad.stderr
    # a customer never lands in the provider's own organisation (its people would see internal tickets)
    lost = _run(['create-user', '--email', 'cleo@example.org', '--role', 'customer'], tmp_path, stdin='s3cret-pass\n')
    assert lost.returncode != 0 and 'pass --organisation' in lost.stderr
    placed = _run(['create-user', '--email', 'cleo@example.org', '--role', 'customer', '--organisation', 'Cleo Ltd'],
                  tmp_path, stdin='s3cret-pass\n')
    assert placed.returncode == 0 and 'in Cleo Ltd' in placed.stdout, placed.stderr


def test_set_priority_scale_switches_new_tickets(tmp_path):
    assert _run(['migrate'], tmp_path).returncode == 0
    result = _run(['set-priority-scale', 'helpdesk-1-5'], tmp_path)
    assert result.returncode == 0, result.stderr
    engine = create_engine(f'sqlite:///{tmp_path / "cli" / "pulse.db"}')
    with engine.connect() as conn:
        active = conn.exec_driver_sql('SELECT key FROM priority_scales WHERE is_active').scalars().all()
    assert active == ['helpdesk-1-5']


KEPT_TABLES = ('tickets', 'ticket_events', 'team_members', 'attachments', 'notifications', 'mail_outbox')


def _counts(tmp_path) -> dict[str, int]:
    engine = create_engine(f'sqlite:///{tmp_path / "cli" / "pulse.db"}')
    with engine.connect() as conn:
        return {table: conn.exec_driver_sql(f'SELECT count(*) FROM {table}').scalar_one() for table in KEPT_TABLES}


def test_migrations_down_and_up_keep_every_row_on_sqlite(tmp_path):
    """SQLite alters a table by copying it and dropping the old one; with foreign keys on, the drop of ``tickets``
    cascaded into chatter, team, attachments and notifications. Every migration step down and up keeps them."""
    seeded = _run(['demo', '--tickets', '12'], tmp_path)
    assert seeded.returncode == 0, seeded.stderr
    before = _counts(tmp_path)
    assert before['tickets'] >= 12 and before['ticket_events'] > before['tickets'] and before['team_members'] > 0
    script = ('import sys; from alembic import command; from pulse_live import cli; from alembic.config import Config;'
              'from pathlib import Path; import pulse_live;'
              'cfg = Config(); cfg.set_main_option("script_location", str(Path(pulse_live.__file__).parent / "migrations"));'
              'from pulse_live.config import get_settings;'
              'cfg.set_main_option("sqlalchemy.url", get_settings().resolved_database_url());'
              'command.downgrade(cfg, sys.argv[1])')
    env = {k: v for k, v in os.environ.items() if k != 'PYTEST_CURRENT_TEST'}
    env.update(PULSE_DATA_DIR=str(tmp_path / 'cli'), PULSE_DATABASE_URL='')
    down = subprocess.run([sys.executable, '-c', script, '0007c'], capture_output=True, text=True, env=env, timeout=300)
    assert down.returncode == 0, down.stderr
    assert _counts(tmp_path) == before
    up = _run(['migrate'], tmp_path)
    assert up.returncode == 0, up.stderr
    assert _counts(tmp_path) == before


def test_the_upgrade_records_once_that_old_open_tickets_get_due_times_from_now(tmp_path):
    """Migration 0009c: open tickets from before the clock (no due times) are marked for the escalation worker,
    which counts their targets from the upgrade moment (tests/unit/services/test_sla_jobs.py); recorded once."""
    seeded = _run(['demo', '--tickets', '12'], tmp_path)
    assert seeded.returncode == 0, seeded.stderr
    script = ('import sys; from alembic import command; from alembic.config import Config; from pathlib import Path;'
              'import pulse_live; from pulse_live.config import get_settings; cfg = Config();'
              'cfg.set_main_option("script_location", str(Path(pulse_live.__file__).parent / "migrations"));'
              'cfg.set_main_option("sqlalchemy.url", get_settings().resolved_database_url());'
              'command.downgrade(cfg, sys.argv[1])')
    env = {k: v for k, v in os.environ.items() if k != 'PYTEST_CURRENT_TEST'}
    env.update(PULSE_DATA_DIR=str(tmp_path / 'cli'), PULSE_DATABASE_URL='')
    down = subprocess.run([sys.executable, '-c', script, '0009b'], capture_output=True, text=True, env=env,
                          timeout=300)
    assert down.returncode == 0, down.stderr
    engine = create_engine(f'sqlite:///{tmp_path / "cli" / "pulse.db"}')
    with engine.begin() as conn:  # as an installation from before the clock left them
        conn.exec_driver_sql("UPDATE tickets SET sla_policy_id = NULL, first_response_due_at = NULL, "
                             "resolution_due_at = NULL WHERE status IN ('open', 'in_progress', 'waiting')")
        old_open = conn.exec_driver_sql("SELECT count(*) FROM tickets "
                                        "WHERE status IN ('open', 'in_progress', 'waiting')").scalar_one()
    assert old_open > 0
    up = _run(['migrate'], tmp_path)
    assert up.returncode == 0, up.stderr
    with engine.connect() as conn:
        jobs = conn.exec_driver_sql('SELECT kind, total, after_id, finished_at FROM sla_clock_jobs').all()
    assert jobs == [('upgrade', old_open, 0, None)]
    assert _run(['migrate'], tmp_path).returncode == 0  # at head: nothing recorded again
    with engine.connect() as conn:
        assert conn.exec_driver_sql('SELECT count(*) FROM sla_clock_jobs').scalar_one() == 1
