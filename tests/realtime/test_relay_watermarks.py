"""Publish watermarks are a best effort: a server never waits long behind another
process's lock on them (it saves them while starting up), and loses none it could not
save."""

from __future__ import annotations

import time
import uuid

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from onetask.db import uow
from onetask.db.engine import Database
from onetask.db.models import ChannelPublished
from onetask.realtime.broker import MemoryBroker
from onetask.realtime.relay import Relay

pytestmark = pytest.mark.scaled  # row locks that outlast a statement: PostgreSQL


async def published(database: Database, channel: str) -> int | None:
    async with database.session(write=False) as session:
        row = await session.get(ChannelPublished, channel)
        return None if row is None else row.published_seq


async def test_a_locked_watermark_row_is_given_up_on_quickly_and_kept(app: FastAPI) -> None:
    database: Database = app.state.database
    metrics = app.state.metrics
    relay = Relay(database, MemoryBroker(), metrics, sweep_interval_s=60, retention_s=3600)
    channel = f"watermark-test:{uuid.uuid4().hex}"
    async with database.session(write=True) as session:
        session.add(ChannelPublished(channel=channel, published_seq=1))
        await uow.commit(session)

    async with database.session(write=True) as holder:  # another process, mid-transaction
        await holder.execute(
            text("SELECT 1 FROM channel_published WHERE channel = :c FOR UPDATE"), {"c": channel}
        )
        relay._published = {channel: 7}
        started = time.monotonic()
        with pytest.raises(DBAPIError):
            await relay._save_watermarks()
        assert time.monotonic() - started < 10
        assert relay._published == {channel: 7}  # kept for the next round
        await holder.rollback()

    await relay._save_watermarks()
    assert relay._published == {}
    assert await published(database, channel) == 7
