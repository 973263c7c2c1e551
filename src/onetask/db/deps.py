"""One session per request. On SQLite, unsafe methods get a write (BEGIN IMMEDIATE)
session; a route that changes data commits it with `uow.commit`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from onetask.db import uow
from onetask.db.engine import Database

log = logging.getLogger("onetask")

_READ_METHODS = {"GET", "HEAD", "OPTIONS"}


def get_database(conn: HTTPConnection) -> Database:
    database: Database = conn.app.state.database
    return database


async def _session(conn: HTTPConnection) -> AsyncIterator[AsyncSession]:
    write = conn.scope["type"] == "http" and conn.scope["method"] not in _READ_METHODS
    session = get_database(conn).session(write=write)
    state = conn.scope.get("state")
    if write and state and state.get("defer_commit"):
        # The route's commit is completed by whoever asked (onetask.idempotency).
        uow.defer_commits(session)
        state["db_session"] = session
    try:
        yield session
    finally:
        await _close(session)


async def _close(session: AsyncSession) -> None:
    """Close the request's session; a failure to do so is not the request's.

    Closing rolls back whatever was not committed. When the database went away during the
    request (a restart), that ROLLBACK fails on the dead connection: the server has
    already rolled the transaction back, and the request has its answer (a 503, or what
    it committed before). Raised from here, the error escaped the error handlers, and
    the client got a 500 or a dropped connection instead. The connection is invalidated,
    so the pool never hands it out again."""
    try:
        await session.close()
    except Exception as exc:
        log.warning("closing a request's database session failed: %s", type(exc).__name__)
        with suppress(Exception):
            await session.invalidate()


DbSession = Annotated[AsyncSession, Depends(_session)]


async def _long_read_session(
    conn: HTTPConnection, session: DbSession
) -> AsyncIterator[AsyncSession]:
    """For a read that may take long: on SQLite a session whose statements run off the
    event loop (`Database.long_reads`), on PostgreSQL the request's own session (every
    statement is awaited there). No connection is taken until a statement runs."""
    factory = get_database(conn).long_reads
    if factory is None:
        yield session
        return
    long_read = factory()
    try:
        yield long_read
    finally:
        await _close(long_read)


LongReadSession = Annotated[AsyncSession, Depends(_long_read_session)]
