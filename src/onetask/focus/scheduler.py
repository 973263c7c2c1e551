"""Moves running focus sessions on at their phase boundaries, in every process.

The boundaries live in the database, so the clock survives restarts and needs no owner:
each process polls for due sessions (at most every `focus_tick_interval_s`, sooner when
the earliest boundary is sooner, at once when this process starts or resumes a timer),
and `service.advance` claims each transition with a conditional UPDATE, so exactly one
process emits each `phase_changed` / `session_ended`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from onetask.config import Settings
from onetask.db import uow
from onetask.db.engine import Database
from onetask.db.types import utcnow
from onetask.errors import log_failed_round
from onetask.focus import repository, service

log = logging.getLogger("onetask.focus")


class FocusScheduler:
    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.tick_s = settings.focus_tick_interval_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self.database.listeners[service.FOCUS_TIMER_CHANGED] = self.wake
        self._task = asyncio.create_task(self._run(), name="focus-scheduler")

    async def stop(self) -> None:
        self.database.listeners.pop(service.FOCUS_TIMER_CHANGED, None)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                delay = await self.run_due()
            except Exception as exc:
                log_failed_round(log, "focus scheduler round", exc)
                delay = self.tick_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def run_due(self) -> float:
        """Advance every due session; return how long to sleep before the next round."""
        now = utcnow()
        async with self.database.session(write=False) as session:
            due = await repository.due(session, now)
        progressed = False
        for pk, _ in due:
            progressed |= await self._advance(pk)
        async with self.database.session(write=False) as session:
            upcoming = await repository.next_boundary(session)
        if upcoming is None:
            return self.tick_s
        until = (upcoming - utcnow()).total_seconds()
        if until <= 0 and not progressed:
            return self.tick_s  # someone else is moving it, or it keeps failing: back off
        return min(self.tick_s, max(0.0, until))

    async def _advance(self, pk: int) -> bool:
        async with self.database.session(write=True) as session:
            if await service.advance(session, pk):
                await uow.commit(session)
                return True
            await uow.rollback(session)
            return False
