"""Text search over a task's title and description (the `q` filter).

A query is its words: runs of letters and digits, everything else separates them. A task
matches when each word starts a word of its title or description, in any order and any
case. Only the words reach the database, so nothing a user types is read as search
syntax (quotes, `*`, `-`, NEAR, `:`, `&`, `|`, `!`, parentheses...).

The index is built by the migrations: on SQLite an FTS5 table kept in step with `tasks`
by triggers, on PostgreSQL a GIN index on `DOCUMENT_POSTGRESQL`; both tokenize the same
way (letters and digits, case folded, accents kept).
"""

from __future__ import annotations

import re
import string
from typing import Any

from sqlalchemy import ColumnElement, Integer, column, func, literal_column, select, table

from onetask.db.models import Task

_WORD = re.compile(r"[^\W_]+")  # letters and digits: what both indexes take as a word

# PostgreSQL's parser keeps e-mail addresses, URLs, paths and numbers like 3.14 as single
# tokens: ASCII punctuation becomes spaces first, so "example" finds bob@example.com as
# on SQLite. Written exactly as in the index (migration 0004), or the index goes unused.
_PUNCTUATION = string.punctuation.replace("'", "''")
_BLANKS = " " * len(string.punctuation)
DOCUMENT_POSTGRESQL = (
    "to_tsvector('simple'::regconfig, translate("
    f"title || ' ' || coalesce(description, ''), '{_PUNCTUATION}', '{_BLANKS}'))"
)
_SIMPLE: ColumnElement[Any] = literal_column("'simple'::regconfig")

_FTS = table("tasks_fts", column("rowid", Integer))


def words(q: str) -> list[str]:
    return _WORD.findall(q)


def has_words(q: str) -> str:
    if not words(q):
        raise ValueError("q must contain a letter or digit to search for")
    return q


def matches(q: str, dialect: str) -> ColumnElement[bool]:
    """Tasks that have every word of `q`, each as a word or the start of one."""
    terms = words(q)
    if dialect == "postgresql":
        # Quoted lexemes with a prefix mark, all required: 'buy':* & 'milk':*
        query = " & ".join(f"'{w}':*" for w in terms)
        document: ColumnElement[str] = literal_column(DOCUMENT_POSTGRESQL)
        return document.bool_op("@@")(func.to_tsquery(_SIMPLE, query))
    # FTS5 strings with a prefix mark, all required: "buy"* AND "milk"*
    expression = " AND ".join(f'"{w}"*' for w in terms)
    in_index = select(_FTS.c.rowid).where(literal_column("tasks_fts").match(expression))
    return Task.id.in_(in_index)
