"""One session per request. On SQLite, unsafe methods get a write (BEGIN IMMEDIATE)
session; a route that changes data commits it with `uow.commit`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from onetask.db.engine import Database

_READ_METHODS = {"GET", "HEAD", "OPTIONS"}


def get_database(conn: HTTPConnection) -> Database:
    database: Database = conn.app.state.database
    return database


async def _session(conn: HTTPConnection) -> AsyncIterator[AsyncSession]:
    write = conn.scope["type"] == "http" and conn.scope["method"] not in _READ_METHODS
    async with get_database(conn).session(write=write) as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(_session)]
