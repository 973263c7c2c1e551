"""The one scheduler: every kind gets its rounds, a failing kind does not stop the others,
and a full batch of due work is followed at once by the next."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from onetask import scheduler as scheduling
from onetask.db import uow
from onetask.db.types import utcnow
from onetask.scheduler import BATCH, Scheduler


class Items:
    """A kind whose items are held in memory: `pending` maps id -> due time."""

    def __init__(self, name: str, pending: dict[int, datetime]) -> None:
        self.name = name
        self.pending = pending
        self.done: list[int] = []

    async def due(self, session: AsyncSession, now: datetime, limit: int) -> list[int]:
        return sorted(pk for pk, at in self.pending.items() if at <= now)[:limit]

    async def run(self, session: AsyncSession, pk: int, now: datetime) -> bool:
        if self.pending.pop(pk, None) is None:
            return False  # claimed elsewhere
        self.done.append(pk)
        return True

    async def next_at(self, session: AsyncSession) -> datetime | None:
        return min(self.pending.values(), default=None)


class Broken(Items):
    async def due(self, session: AsyncSession, now: datetime, limit: int) -> list[int]:
        raise RuntimeError("this kind's table is gone")


async def test_each_kind_runs_and_a_broken_kind_does_not_stop_the_others(app: FastAPI) -> None:
    now = utcnow()
    first = Items("first", {1: now, 2: now + timedelta(seconds=0.2)})
    second = Items("second", {7: now})
    sched = Scheduler(app.state.database, app.state.settings, [Broken("broken", {}), first, second])
    await sched.start()
    try:
        for _ in range(100):
            if first.done == [1, 2] and second.done == [7]:
                break
            await asyncio.sleep(0.05)
    finally:
        await sched.stop()
    assert (first.done, second.done) == ([1, 2], [7])


async def test_a_full_batch_is_followed_at_once_by_the_rest(app: FastAPI) -> None:
    now = utcnow()
    many = Items("many", {pk: now for pk in range(BATCH + 5)})
    sched = Scheduler(app.state.database, app.state.settings, [many])
    assert await sched.run_due(many) == 0.0
    assert len(many.done) == BATCH
    await sched.run_due(many)
    assert len(many.done) == BATCH + 5


async def test_a_commit_that_schedules_work_wakes_the_scheduler(app: FastAPI) -> None:
    woken = asyncio.Event()
    database = app.state.database
    saved = database.listeners.get(scheduling.WORK_SCHEDULED)
    database.listeners[scheduling.WORK_SCHEDULED] = woken.set
    try:
        async with database.session(write=True) as session:
            scheduling.wake_after_commit(session)
            assert not woken.is_set()
            await uow.commit(session)
    finally:
        if saved is None:
            database.listeners.pop(scheduling.WORK_SCHEDULED, None)
        else:
            database.listeners[scheduling.WORK_SCHEDULED] = saved
    assert woken.is_set()
