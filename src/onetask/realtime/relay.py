"""Committed outbox rows → broker (and this process's hub).

The outbox hands each committed batch to `notify` right after commit, in the committing
request's task. The relay publishes it there and then (the PUBLISH is written before the
request goes on to build its response), and hands it to this process's hub in the same
breath: local subscribers do not wait for the broker's round trip, and the copy that
comes back from the broker is dropped by seq. One publish is in flight at a time; what
commits meanwhile goes out as one message when the broker acknowledges it. The relay also
keeps a per-channel published watermark, so that on start and every sweep it can publish
whatever was committed but never published (a process killed between commit and
publish, or a broker outage). Publishing twice is harmless: hubs drop any seq they
already delivered.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import and_, delete, func, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from onetask.db import uow
from onetask.db.engine import Database
from onetask.db.models import ChannelHead, ChannelPublished, Event
from onetask.db.types import utcnow
from onetask.errors import log_failed_round
from onetask.events.outbox import CommittedEvent
from onetask.metrics import Metrics
from onetask.realtime.broker import Broker

log = logging.getLogger("onetask.relay")
SWEEP_GRACE_S = 2.0  # leave fresh commits to the process that made them
WATERMARK_LOCK_TIMEOUT = "2s"
PRUNE_BATCH = 1000


class Relay:
    def __init__(
        self,
        database: Database,
        broker: Broker,
        metrics: Metrics,
        *,
        sweep_interval_s: float,
        retention_s: int,
        crash_after_commit: bool = False,
        deliver_locally: Callable[[list[CommittedEvent]], None] | None = None,
    ) -> None:
        self.database = database
        self.broker = broker
        self.metrics = metrics
        self.sweep_interval_s = sweep_interval_s
        self.retention_s = retention_s
        self.crash_after_commit = crash_after_commit
        self.deliver_locally = deliver_locally
        self._queue: list[tuple[float, CommittedEvent]] = []
        self._in_flight: asyncio.Future[None] | None = None
        self._published: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def notify(self, events: list[CommittedEvent]) -> None:
        if self.crash_after_commit:
            os.kill(os.getpid(), signal.SIGKILL)
        now = time.perf_counter()
        self._queue.extend((now, e) for e in events)
        if self._in_flight is None:
            self._send()
        if self.deliver_locally is not None:
            # In the committing request's task, after COMMIT: nothing here may fail it.
            try:
                self.deliver_locally(events)
            except Exception:  # the broker's copy delivers them
                log.exception("local delivery of %d committed events failed", len(events))

    async def start(self) -> None:
        try:
            await self.sweep()
        except DBAPIError:  # e.g. another process holds a watermark row: retried soon
            log.warning("startup sweep could not finish; the maintenance loop retries")
        self._tasks = [asyncio.create_task(self._maintenance_loop(), name="relay-maintenance")]

    async def stop(self) -> None:
        await self._drain()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await self._save_watermarks()
        except Exception:  # the database is down: the next start's sweep republishes
            log.warning("could not save publish watermarks at shutdown")

    def _send(self) -> None:
        """Publish everything queued, now; `_acked` takes over when the broker answers."""
        batch, self._queue = self._queue, []
        try:
            published = self.broker.publish([e for _, e in batch])
        except Exception:  # e.g. an event that cannot be packed: the sweep retries
            log.exception("could not publish %d events; the sweep will retry", len(batch))
            return
        self._in_flight = ack = asyncio.ensure_future(published)
        ack.add_done_callback(lambda _: self._acked(batch, ack))

    def _acked(self, batch: list[tuple[float, CommittedEvent]], ack: asyncio.Future[None]) -> None:
        self._in_flight = None
        if ack.cancelled() or ack.exception() is not None:
            log.warning("publish failed for %d events; the sweep will retry", len(batch))
        else:
            done = time.perf_counter()
            for committed_at, event in batch:
                self.metrics.outbox_lag.observe(done - committed_at)
                if event.seq > self._published.get(event.channel, 0):
                    self._published[event.channel] = event.seq
            self.metrics.inc("onetask_events_published_total", "Events published", len(batch))
        if self._queue:  # what committed while this one was on its way: one message
            self._send()

    async def _drain(self) -> None:
        """Until everything queued has been acknowledged by the broker, or has failed."""
        while self._in_flight is not None:
            await asyncio.wait([self._in_flight])

    async def _maintenance_loop(self) -> None:
        # Pruning is a bulk delete: run it a few times per retention period, at most
        # once a minute, not on every sweep.
        prune_every = min(60.0, self.retention_s / 4)
        next_prune = time.monotonic()
        while True:
            await asyncio.sleep(self.sweep_interval_s)
            try:
                await self._save_watermarks()
                await self.sweep()
                if time.monotonic() >= next_prune:
                    await self.prune()
                    next_prune = time.monotonic() + prune_every
            except Exception as exc:
                log_failed_round(log, "relay maintenance", exc)

    async def sweep(self) -> None:
        """Publish the newest event of each channel whose watermark lags its head.

        One doorbell per channel is enough: a hub that sees seq S fetches the rest of the
        gap from the log."""
        horizon = utcnow() - timedelta(seconds=SWEEP_GRACE_S)
        published = func.coalesce(ChannelPublished.published_seq, 0)
        query = (
            select(Event.channel, Event.seq, Event.message, Event.final)
            .join(
                ChannelHead,
                and_(ChannelHead.channel == Event.channel, ChannelHead.last_seq == Event.seq),
            )
            .outerjoin(ChannelPublished, ChannelPublished.channel == ChannelHead.channel)
            .where(ChannelHead.last_seq > published, ChannelHead.updated_at < horizon)
            .limit(1000)
        )
        async with self.database.session(write=False) as session:
            rows = (await session.execute(query)).all()
        if not rows:
            return
        events = [CommittedEvent(r.channel, r.seq, r.message, r.final) for r in rows]
        log.info("republishing %d channel(s) committed but not published", len(events))
        self.notify(events)
        await self._drain()
        await self._save_watermarks()

    async def _save_watermarks(self) -> None:
        """Record how far each channel is published. A best effort: what is not recorded
        is published again by a sweep, which subscribers ignore."""
        if not self._published:
            return
        marks, self._published = self._published, {}
        try:
            async with self.database.session(write=True) as session:
                await _upsert_watermarks(session, marks)
                await uow.commit(session)
        except BaseException:
            for channel, seq in marks.items():  # keep them for the next attempt
                if seq > self._published.get(channel, 0):
                    self._published[channel] = seq
            raise

    async def prune(self) -> None:
        """Delete events older than the retention period, oldest first, `PRUNE_BATCH`
        rows per transaction: no long write lock, and on SQLite no long statement on the
        loop. `ORDER BY created_at` keeps each batch on the `created_at` index whatever
        the planner's statistics say: without it, PostgreSQL with stale statistics
        (autovacuum off) scanned the whole table to find that nothing was old, 36 ms for
        93,000 events, in every process every minute."""
        horizon = utcnow() - timedelta(seconds=self.retention_s)
        expired = (
            select(Event.channel, Event.seq)
            .where(Event.created_at < horizon)
            .order_by(Event.created_at)
            .limit(PRUNE_BATCH)
        )
        statement = delete(Event).where(tuple_(Event.channel, Event.seq).in_(expired))
        deleted = PRUNE_BATCH
        while deleted == PRUNE_BATCH:
            async with self.database.session(write=True) as session:
                result = await session.execute(statement)
                await uow.commit(session)
            deleted = result.rowcount  # type: ignore[attr-defined]
            await asyncio.sleep(0)


async def _upsert_watermarks(session: AsyncSession, marks: dict[str, int]) -> None:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # Never wait long behind another process's transaction on these rows: a server
        # starting up runs this before it accepts requests.
        await session.execute(text(f"SET LOCAL lock_timeout = '{WATERMARK_LOCK_TIMEOUT}'"))
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for channel, seq in sorted(marks.items()):
        statement = insert(ChannelPublished).values(channel=channel, published_seq=seq)
        statement = statement.on_conflict_do_update(
            index_elements=[ChannelPublished.channel],
            set_={
                "published_seq": func.max(ChannelPublished.published_seq, seq)
                if dialect == "sqlite"
                else func.greatest(ChannelPublished.published_seq, seq)
            },
        )
        await session.execute(statement)
