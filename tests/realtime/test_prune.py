"""Retention pruning deletes in bounded batches until nothing old is left, and keeps
what is still within the retention period."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

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
