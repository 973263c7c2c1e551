"""One scheduler for all timed work (focus phase boundaries, and every kind added later).

Every due time lives in the database, in an indexed column, so the clock survives restarts
and needs no owner: each process polls for what is due (at most every
`scheduler_interval_s`, sooner when the earliest pending time is sooner, at once when a
commit in this process schedules something), and each kind's `run` claims an item with a
conditional UPDATE, so exactly one process does each piece of work. Work that fell due
while every process was down is found by the first poll after start, and done once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from onetask.config import Settings
from onetask.db import uow
from onetask.db.engine import Database
from onetask.db.types import utcnow
from onetask.errors import log_failed_round

log = logging.getLogger("onetask.scheduler")

WORK_SCHEDULED = "work_scheduled"
BATCH = 100


class TimedWork(Protocol):
    """One kind of timed work: its due items are found through an index on their time."""

    name: str

    async def due(self, session: AsyncSession, now: datetime, limit: int) -> list[int]:
        """Ids of items whose time has come, at most `limit`."""

    async def run(self, session: AsyncSession, pk: int, now: datetime) -> bool:
        """Claim `pk` with a conditional UPDATE and do its work, in a write session. True
        when this process claimed it (the scheduler commits), else False (rolled back)."""

    async def next_at(self, session: AsyncSession) -> datetime | None:
        """The earliest pending time of this kind, None when nothing is pending."""


def wake_after_commit(session: AsyncSession) -> None:
    """Something was scheduled in this transaction: poll as soon as it commits, so work
    due sooner than the next poll is not late."""
    listener = session.info.get("listeners", {}).get(WORK_SCHEDULED)
    if listener is not None:
        uow.after_commit(session, listener)


class Scheduler:
    def __init__(self, database: Database, settings: Settings, work: Sequence[TimedWork]) -> None:
        self.database = database
        self.interval_s = settings.scheduler_interval_s
        self.work = tuple(work)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self.database.listeners[WORK_SCHEDULED] = self.wake
        self._task = asyncio.create_task(self._run(), name="scheduler")

    async def stop(self) -> None:
        self.database.listeners.pop(WORK_SCHEDULED, None)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            delay = min([await self._round(kind) for kind in self.work], default=self.interval_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _round(self, kind: TimedWork) -> float:
        try:
            return await self.run_due(kind)
        except Exception as exc:
            log_failed_round(log, f"{kind.name} round", exc)
            return self.interval_s

    async def run_due(self, kind: TimedWork) -> float:
        """Do every due item of `kind`; return how long to sleep before its next round."""
        async with self.database.session(write=False) as session:
            due = await kind.due(session, utcnow(), BATCH)
        progressed = False
        for pk in due:
            progressed |= await self._run_one(kind, pk)
        if len(due) == BATCH and progressed:
            return 0.0  # more are due: go on at once
        async with self.database.session(write=False) as session:
            upcoming = await kind.next_at(session)
        if upcoming is None:
            return self.interval_s
        until = (upcoming - utcnow()).total_seconds()
        if until <= 0 and not progressed:
            return self.interval_s  # someone else is doing it, or it keeps failing: back off
        return min(self.interval_s, max(0.0, until))

    async def _run_one(self, kind: TimedWork, pk: int) -> bool:
        async with self.database.session(write=True) as session:
            if await kind.run(session, pk, utcnow()):
                await uow.commit(session)
                return True
            await uow.rollback(session)
            return False
