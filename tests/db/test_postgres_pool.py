"""PostgreSQL connections are pinged before use only after being idle: a connection the
server dropped while it sat in the pool is replaced without the request noticing, and a
hot one costs no extra round trip."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from onetask.db import engine as engine_module
from onetask.db.engine import Database
from tests.conftest import make_settings

pytestmark = pytest.mark.scaled  # PostgreSQL only


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(make_settings(tmp_path))  # its own pool, so we know which connection
    yield db
    await db.dispose()


async def backend_pid(database: Database) -> int:
    async with database.session(write=False) as session:
        pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert isinstance(pid, int)
        return pid


async def terminate(database: Database, pid: int) -> None:
    """What a server restart or an idle timeout does, from outside the pool."""
    url = database.read_engine.url
    admin = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, database=url.database
    )
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


async def test_an_idle_connection_dropped_by_the_server_is_replaced(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings: list[object] = []
    dialect = database.read_engine.sync_engine.dialect
    original = dialect.do_ping
    monkeypatch.setattr(dialect, "do_ping", lambda c: pings.append(c) or original(c))

    first = await backend_pid(database)
    assert pings == []  # a fresh, recently used connection is not pinged
    await terminate(database, first)
    monkeypatch.setattr(engine_module, "PING_IF_IDLE_S", 0.0)  # now every one is "idle"
    events: list[str] = []
    event.listen(database.read_engine.sync_engine, "connect", lambda *_: events.append("new"))
    second = await backend_pid(database)
    assert second != first
    assert events  # the dead connection was replaced by a new one


async def test_a_hot_connection_is_not_pinged_and_a_dead_one_fails_once(
    database: Database,
) -> None:
    first = await backend_pid(database)
    await terminate(database, first)
    # Used a moment ago, so not pinged: the statement fails, the pool is invalidated
    # (the API answers 503), and the next request gets a new connection.
    with pytest.raises(DBAPIError) as failed:
        for _ in range(3):  # whichever pooled connection comes out first
            assert await backend_pid(database) != first
    assert failed.value.connection_invalidated
    assert await backend_pid(database) != first


async def test_a_burst_past_the_pool_waits_and_the_pool_keeps_its_connections(
    tmp_path: Path,
) -> None:
    """Connections opened for a burst stay open for the next one, and a burst bigger than
    the pool waits for them rather than opening more (each new one costs the event loop
    a few milliseconds of CPU, and PostgreSQL a backend)."""
    database = Database(make_settings(tmp_path, database_pool_size=4))
    opened: list[object] = []
    event.listen(database.read_engine.sync_engine, "connect", lambda *_: opened.append(1))

    async def hold() -> int:
        async with database.session(write=False) as session:
            pid = (await session.execute(text("SELECT pg_backend_pid(), pg_sleep(0.05)"))).one()
            return int(pid[0])

    try:
        first = set(await asyncio.gather(*(hold() for _ in range(6))))
        assert len(first) == len(opened) == 4  # six sessions, four connections
        second = set(await asyncio.gather(*(hold() for _ in range(6))))
        assert second == first  # the same four: none closed, none opened
        assert len(opened) == 4
    finally:
        await database.dispose()
