"""Retention pruning deletes in bounded batches until nothing old is left, and keeps
what is still within the retention period."""

from __future__ import annotations

import re
import uuid
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import delete, func, select, text

from onetask.db import uow
from onetask.db.engine import Database
from onetask.db.models import Event
from onetask.db.types import utcnow
from onetask.realtime import relay as relay_module
from onetask.realtime.broker import MemoryBroker
from onetask.realtime.relay import Relay


async def test_prune_takes_several_batches_and_keeps_recent_events(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    database: Database = app.state.database
    relay = Relay(database, MemoryBroker(), app.state.metrics, sweep_interval_s=60, retention_s=60)
    monkeypatch.setattr(relay_module, "PRUNE_BATCH", 3)
    channel = f"prune-test:{uuid.uuid4().hex}"
    old, recent = utcnow() - timedelta(hours=1), utcnow()
    async with database.session(write=True) as session:
        session.add_all(
            Event(channel=channel, seq=seq, message="{}", created_at=old if seq <= 10 else recent)
            for seq in range(1, 13)
        )
        await uow.commit(session)

    statements: list[str] = []
    real_session = database.session

    def counting_session(*, write: bool):  # type: ignore[no-untyped-def]
        statements.append("write" if write else "read")
        return real_session(write=write)

    monkeypatch.setattr(database, "session", counting_session)
    await relay.prune()

    async with real_session(write=False) as session:
        left = await session.scalars(
            select(Event.seq).where(Event.channel == channel).order_by(Event.seq)
        )
        assert list(left) == [11, 12]
        assert await session.scalar(select(func.count()).where(Event.created_at < old)) == 0
    # Other tests' old events may be pruned too, but never in one go: at least the four
    # batches that ten of ours need, each its own transaction.
    assert statements.count("write") >= 4


@pytest.mark.scaled
async def test_prune_finds_old_events_by_index_even_when_statistics_say_all_are_old(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With autovacuum off, statistics go stale: here they were taken when 20,000 events
    were all old, and since then every one of them has become recent. The prune must
    still go through the `created_at` index, not read the whole table to find nothing.
    (EXPLAIN ANALYZE runs each batch's DELETE once more in its transaction: with nothing
    to delete, that changes nothing.)"""
    database: Database = app.state.database
    channel = f"prune-plan:{uuid.uuid4().hex}"
    async with database.session(write=True) as session:
        await session.execute(
            text(
                "INSERT INTO events (channel, seq, message, final, created_at) "
                "SELECT :channel, n, '{}', false, now() - interval '30 days' "
                "FROM generate_series(1, 20000) AS n"
            ),
            {"channel": channel},
        )
        await uow.commit(session)
    async with database.session(write=True) as session:
        await session.execute(text("ANALYZE events"))
        await session.execute(
            text("UPDATE events SET created_at = now() WHERE channel = :channel"),
            {"channel": channel},
        )
        await uow.commit(session)

    plans: list[str] = []
    relay = Relay(database, MemoryBroker(), app.state.metrics, sweep_interval_s=60, retention_s=60)
    real_session = database.session

    @asynccontextmanager
    async def explaining_session(*, write: bool):  # type: ignore[no-untyped-def]
        async with real_session(write=write) as session:
            real_execute = session.execute

            async def execute(statement, *args, **kwargs):  # type: ignore[no-untyped-def]
                compiled = statement.compile(dialect=session.get_bind().dialect)
                values = tuple(compiled.params[name] for name in compiled.positiontup or ())
                connection = await session.connection()
                plan = await connection.exec_driver_sql(f"EXPLAIN ANALYZE {compiled}", values)
                plans.append("\n".join(row[0] for row in plan))
                return await real_execute(statement, *args, **kwargs)

            monkeypatch.setattr(session, "execute", execute)
            yield session

    monkeypatch.setattr(database, "session", explaining_session)
    try:
        await relay.prune()
    finally:
        monkeypatch.setattr(database, "session", real_session)
        async with real_session(write=True) as session:
            await session.execute(delete(Event).where(Event.channel == channel))
            await uow.commit(session)
    # Nothing was old: one batch, which found so through the index, reading no table.
    assert len(plans) == 1 and "Index Scan using ix_events_created_at" in plans[0], plans
    filtered = [int(n) for n in re.findall(r"Rows Removed by Filter: (\d+)", plans[0])]
    assert all(n <= relay_module.PRUNE_BATCH for n in filtered), plans
