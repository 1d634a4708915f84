"""The engine's index beside ``search_documents``: SQLite FTS5, PostgreSQL tsvector + GIN. Made by the migration
(0010b), by ``create_all`` (tests: a listener on the table) and again by ``pulse-live search-reindex``.

SQLite: ``search_fts`` (kind, title, body, staff text) and ``search_fts_titles`` (kind, title), FTS5 tables whose
content is ``search_documents`` (external content: the text is stored once), kept by three triggers, with prefix
indexes for 2 and 3 letters (as-you-type). ``kind`` is an indexed column, so "messages matching X" is one FTS5
query. PostgreSQL: ``tsv`` (the title as weight A, the body B, the staff-only text C) and ``title_tsv`` columns set
by a trigger in the configured language, each with one GIN index per kind (partial), so a kind's matches are read
from its own index; tickets and messages also a btree of their ids (partial), so their newest are read first. The
titles have an index of their own because "every word in the title" is asked first: a word common in bodies but
absent from titles would otherwise read every body that holds it to find no title.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from ..config import get_settings

KINDS = ('ticket', 'message', 'article', 'customer', 'organisation')
FTS_TABLE = 'search_fts'            # every column
TITLES_TABLE = 'search_fts_titles'  # titles only: "every word in the title" reads only titles' word lists
COLUMNS = ('kind', 'title', 'body', 'staff_text')
TITLE_COLUMNS = ('kind', 'title')


def language() -> str:
    return get_settings().search_language


def sqlite_tokenizer(lang: str) -> str:
    return ('porter ' if lang == 'english' else '') + 'unicode61 remove_diacritics 2'


def _fts5(table: str, columns: tuple[str, ...], lang: str) -> str:
    return (f"CREATE VIRTUAL TABLE {table} USING fts5({', '.join(columns)}, content='search_documents', "
            f"content_rowid='id', tokenize='{sqlite_tokenizer(lang)}', prefix='2 3')")


def _fts5_write(table: str, columns: tuple[str, ...], row: str, *, delete: bool) -> str:
    values = ', '.join(f'{row}.{c}' for c in columns)
    if delete:
        return f"INSERT INTO {table}({table}, rowid, {', '.join(columns)}) VALUES ('delete', old.id, {values});"
    return f"INSERT INTO {table}(rowid, {', '.join(columns)}) VALUES (new.id, {values});"


def sqlite_ddl(lang: str) -> list[str]:
    tables = ((FTS_TABLE, COLUMNS), (TITLES_TABLE, TITLE_COLUMNS))
    insert = ' '.join(_fts5_write(t, c, 'new', delete=False) for t, c in tables)
    delete = ' '.join(_fts5_write(t, c, 'old', delete=True) for t, c in tables)
    return [
        _fts5(FTS_TABLE, COLUMNS, lang),
        _fts5(TITLES_TABLE, TITLE_COLUMNS, lang),
        f'CREATE TRIGGER search_documents_ai AFTER INSERT ON search_documents BEGIN {insert} END',
        f'CREATE TRIGGER search_documents_ad AFTER DELETE ON search_documents BEGIN {delete} END',
        f'CREATE TRIGGER search_documents_au AFTER UPDATE ON search_documents BEGIN {delete} {insert} END',
    ]


def sqlite_triggers_drop() -> list[str]:
    return [f'DROP TRIGGER IF EXISTS search_documents_{t}' for t in ('ai', 'ad', 'au')]


# PostgreSQL's parser keeps "PL-2026-000001" as "pl", "-2026", "-000001", an address or a host name as one word:
# these signs are spaces to it here, so a document is cut into words as the query is (text.py) and as FTS5 does
PG_SEPARATORS = "[-+./@:_#''\"`,;!?()<>{}|\\\\=*&%$~^\\[\\]]"  # inside a SQL literal: the quote doubled


def pg_words(expression: str) -> str:
    return f"regexp_replace(coalesce({expression}, ''), '{PG_SEPARATORS}', ' ', 'g')"


def pg_function(lang: str) -> str:
    cfg = f"'{lang}'::regconfig"
    return f'''CREATE OR REPLACE FUNCTION search_documents_tsv() RETURNS trigger AS $$
BEGIN
  NEW.title_tsv := to_tsvector({cfg}, {pg_words('NEW.title')});
  NEW.tsv := setweight(NEW.title_tsv, 'A')
          || setweight(to_tsvector({cfg}, {pg_words('NEW.body')}), 'B')
          || setweight(to_tsvector({cfg}, {pg_words('NEW.staff_text')}), 'C');
  RETURN NEW;
END $$ LANGUAGE plpgsql'''


RECENT_KINDS = ('ticket', 'message')  # the kinds that grow large: read newest first along an index of their own


RECENT_PREDICATE = "kind = '{kind}' AND id > 0"


def pg_recent_indexes() -> list[str]:
    """Per large kind, its ids (partial btree): "the newest N messages" reads N entries, where the primary key (or
    ``(kind, id)``, which the planner passes over for it) would step over every other kind's newer rows first.
    ``id > 0`` (every id is) is in the predicate so that only a query saying so uses it: the engine's second step
    ("older matches", ``engine._pg_part``) must not read a whole kind along it instead of its GIN index."""
    return [f'CREATE INDEX IF NOT EXISTS ix_search_recent_{k} ON search_documents (id) '
            f'WHERE {RECENT_PREDICATE.format(kind=k)}' for k in RECENT_KINDS]


def pg_indexes() -> list[str]:
    return [f"CREATE INDEX IF NOT EXISTS ix_search_{column}_{k} ON search_documents USING gin ({column}) "
            f"WHERE kind = '{k}'" for column in ('tsv', 'title_tsv') for k in KINDS] + pg_recent_indexes()


def pg_indexes_drop() -> list[str]:
    return [f'DROP INDEX IF EXISTS ix_search_{column}_{k}' for column in ('tsv', 'title_tsv') for k in KINDS] + \
        [f'DROP INDEX IF EXISTS ix_search_recent_{k}' for k in RECENT_KINDS]


def pg_ddl(lang: str) -> list[str]:
    return [
        "ALTER TABLE search_documents ADD COLUMN IF NOT EXISTS tsv tsvector NOT NULL DEFAULT ''::tsvector",
        "ALTER TABLE search_documents ADD COLUMN IF NOT EXISTS title_tsv tsvector NOT NULL DEFAULT ''::tsvector",
        pg_function(lang),
        'DROP TRIGGER IF EXISTS search_documents_tsv ON search_documents',
        'CREATE TRIGGER search_documents_tsv BEFORE INSERT OR UPDATE ON search_documents '
        'FOR EACH ROW EXECUTE FUNCTION search_documents_tsv()',
        *pg_indexes(),
    ]


def check_language(conn: Connection, lang: str) -> None:
    """A configuration PostgreSQL does not know is refused here, with its name, before anything is changed."""
    if conn.dialect.name == 'postgresql':
        known = conn.execute(text('SELECT 1 FROM pg_ts_config WHERE cfgname = :n'), {'n': lang}).first()
        if known is None:
            raise ValueError(f'PULSE_SEARCH_LANGUAGE={lang!r} is not a text search configuration of this PostgreSQL '
                             "(see SELECT cfgname FROM pg_ts_config)")


def create(conn: Connection, lang: str | None = None) -> None:
    """The engine's index over an existing ``search_documents`` table (empty or not: SQLite fills FTS5 from it)."""
    lang = lang or language()
    check_language(conn, lang)
    if conn.dialect.name == 'sqlite':
        for statement in sqlite_ddl(lang):
            conn.exec_driver_sql(statement)
        for table in (FTS_TABLE, TITLES_TABLE):
            conn.exec_driver_sql(f"INSERT INTO {table}({table}) VALUES ('rebuild')")
    else:
        for statement in pg_ddl(lang):
            conn.exec_driver_sql(statement)


def drop(conn: Connection) -> None:
    if conn.dialect.name == 'sqlite':
        for statement in sqlite_triggers_drop():
            conn.exec_driver_sql(statement)
        conn.exec_driver_sql(f'DROP TABLE IF EXISTS {FTS_TABLE}')
        conn.exec_driver_sql(f'DROP TABLE IF EXISTS {TITLES_TABLE}')
    else:
        conn.exec_driver_sql('DROP TRIGGER IF EXISTS search_documents_tsv ON search_documents')
        conn.exec_driver_sql('DROP FUNCTION IF EXISTS search_documents_tsv()')
        for statement in pg_indexes_drop():
            conn.exec_driver_sql(statement)
        conn.exec_driver_sql('ALTER TABLE search_documents DROP COLUMN IF EXISTS tsv')
        conn.exec_driver_sql('ALTER TABLE search_documents DROP COLUMN IF EXISTS title_tsv')


def include_name(name: str | None, type_: Any, parent_names: Any) -> bool:
    """For Alembic's comparison of models and database: the engine's index is not part of the models."""
    if type_ == 'table':
        return not (name or '').startswith(FTS_TABLE)
    if type_ == 'column' and parent_names.get('table_name') == 'search_documents':
        return name not in ('tsv', 'title_tsv')
    if type_ == 'index':
        return not (name or '').startswith(('ix_search_tsv_', 'ix_search_title_tsv_', 'ix_search_recent_'))
    return True
