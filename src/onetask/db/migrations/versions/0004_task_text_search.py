"""a full-text index over tasks' titles and descriptions

Searching with LIKE read every title and description of the workspace, on SQLite on the
event loop's thread: 32 searches over 6,000 tasks of 20 kB held `/healthz` for 3.8 s.

SQLite: an FTS5 table whose content is the tasks table itself (it stores only the
index), kept in step by triggers and built here from the tasks already there. A later
migration that rebuilds `tasks` (batch mode copies and renames the table) drops these
triggers with it and must create them again.

PostgreSQL: a GIN index on the expression that `onetask.tasks.search` queries; the
queries' expression must stay identical to it or the index goes unused.

Both use the same words: runs of letters and digits, case folded, accents kept (the
'simple' configuration stems nothing and suits every language).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 15:30:00
"""

import string
from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PUNCTUATION = string.punctuation.replace("'", "''")
_BLANKS = " " * len(string.punctuation)
_DOCUMENT = (
    "to_tsvector('simple'::regconfig, translate("
    f"title || ' ' || coalesce(description, ''), '{_PUNCTUATION}', '{_BLANKS}'))"
)

_SQLITE_UP = [
    "CREATE VIRTUAL TABLE tasks_fts USING fts5(title, description, content='tasks',"
    " content_rowid='id', tokenize='unicode61 remove_diacritics 0')",
    "CREATE TRIGGER tasks_fts_insert AFTER INSERT ON tasks BEGIN"
    " INSERT INTO tasks_fts(rowid, title, description)"
    " VALUES (new.id, new.title, new.description); END",
    "CREATE TRIGGER tasks_fts_delete AFTER DELETE ON tasks BEGIN"
    " INSERT INTO tasks_fts(tasks_fts, rowid, title, description)"
    " VALUES ('delete', old.id, old.title, old.description); END",
    # Only when the text changed: a task's status or version changes far more often.
    "CREATE TRIGGER tasks_fts_update AFTER UPDATE OF title, description ON tasks"
    " WHEN old.title IS NOT new.title OR old.description IS NOT new.description BEGIN"
    " INSERT INTO tasks_fts(tasks_fts, rowid, title, description)"
    " VALUES ('delete', old.id, old.title, old.description);"
    " INSERT INTO tasks_fts(rowid, title, description)"
    " VALUES (new.id, new.title, new.description); END",
    "INSERT INTO tasks_fts(tasks_fts) VALUES ('rebuild')",
]
_SQLITE_DOWN = [
    "DROP TRIGGER tasks_fts_update",
    "DROP TRIGGER tasks_fts_delete",
    "DROP TRIGGER tasks_fts_insert",
    "DROP TABLE tasks_fts",
]


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    if _sqlite():
        for statement in _SQLITE_UP:
            op.execute(statement)
    else:
        op.execute(f"CREATE INDEX ix_tasks_fts ON tasks USING gin ({_DOCUMENT})")


def downgrade() -> None:
    if _sqlite():
        for statement in _SQLITE_DOWN:
            op.execute(statement)
    else:
        op.execute("DROP INDEX ix_tasks_fts")
