"""Webhooks as kinds of the one scheduler (onetask/scheduler.py), and the attempts this
process has on their way.

- `FanOut` finds webhooks whose workspace channel has events they have not turned into
  deliveries yet: at once for events this process committed (`on_events_committed`), and
  for all webhooks every `webhook_sweep_interval_s` (events whose process died before it
  fanned them out, or that another process committed and has not reached yet; the sweep
  also learns which workspaces have webhooks, so writes elsewhere cost nothing).
- `Attempts` finds deliveries due by the index on `next_attempt_at`, claims each one
  (conditional UPDATE with a lease), and after the claim commits sends it in a task of
  its own: no database session is held while a receiver answers, and the scheduler goes
  on. At most `webhook_max_in_flight` attempts are on their way per process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from onetask.config import Settings
from onetask.db import uow
from onetask.db.engine import Database
from onetask.db.types import utcnow
from onetask.errors import log_failed_round
from onetask.events.channels import workspace_channel
from onetask.events.outbox import CommittedEvent
from onetask.metrics import Metrics
from onetask.scheduler import WORK_SCHEDULED
from onetask.webhooks import delivery, repository
from onetask.webhooks.delivery import FANOUT_BATCH, Attempt, Schedule
from onetask.webhooks.sender import Outcome, Sender
from onetask.webhooks.service import WEBHOOKS_CHANGED

log = logging.getLogger("onetask.webhooks")
SHUTDOWN_GRACE_S = 2.0  # for attempts on their way; the rest are retried after the lease
_HEADS_PER_QUERY = 500


def workspace_of(channel: str) -> int | None:
    """The workspace whose channel this is (`workspace:<id>:tasks`), else None."""
    prefix, _, rest = channel.partition(":")
    number, _, _ = rest.partition(":")
    if prefix != "workspace" or not number.isascii() or not number.isdigit():
        return None
    return int(number) if channel == workspace_channel(int(number)) else None


class Webhooks:
    """This process's part in delivering webhooks."""

    def __init__(self, database: Database, settings: Settings, metrics: Metrics) -> None:
        self.database = database
        self.metrics = metrics
        self.schedule = Schedule(
            base_s=settings.webhook_retry_base_s,
            max_delay_s=settings.webhook_retry_max_delay_s,
            retry_for_s=settings.webhook_retry_for_s,
            lease_s=settings.webhook_lease_s,
        )
        self.max_in_flight = settings.webhook_max_in_flight
        self.timeout_s = settings.webhook_timeout_s
        self.allowed_hosts = settings.webhook_host_allow_list
        self.fan_out = FanOut(self, settings.webhook_sweep_interval_s)
        self.attempts = Attempts(self)
        self.in_flight: set[asyncio.Task[None]] = set()
        self._sender: Sender | None = None

    @property
    def kinds(self) -> list[FanOut | Attempts]:
        return [self.fan_out, self.attempts]

    async def start(self) -> None:
        self.database.listeners[WEBHOOKS_CHANGED] = self.on_webhooks_changed
        self._sender = Sender(self.timeout_s, self.max_in_flight, self.allowed_hosts)

    async def stop(self) -> None:
        self.database.listeners.pop(WEBHOOKS_CHANGED, None)
        if self.in_flight:
            await asyncio.wait(self.in_flight, timeout=SHUTDOWN_GRACE_S)
        for task in self.in_flight:
            task.cancel()
        await asyncio.gather(*self.in_flight, return_exceptions=True)
        if self._sender is not None:
            await self._sender.aclose()

    def on_events_committed(self, events: Sequence[CommittedEvent]) -> None:
        """Right after this process commits events: fan out the workspaces' ones now (if
        they have webhooks: a write elsewhere costs a set lookup, not a scheduler round)."""
        workspaces = {w for e in events if (w := workspace_of(e.channel)) is not None}
        if self.fan_out.mark(workspaces):
            self.wake()

    def on_webhooks_changed(self) -> None:
        """A webhook was created or enabled here: learn of it now, not at the next sweep."""
        self.fan_out.sweep_soon()
        self.wake()

    def wake(self) -> None:
        wake = self.database.listeners.get(WORK_SCHEDULED)
        if wake is not None:
            wake()

    def launch(self, attempt: Attempt) -> None:
        task = asyncio.create_task(self._attempt(attempt), name=f"webhook-{attempt.delivery_id}")
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)

    async def _attempt(self, attempt: Attempt) -> None:
        assert self._sender is not None
        try:
            outcome = await self._sender.post(
                attempt.url, attempt.headers(int(time.time())), attempt.body
            )
        except Exception as exc:  # a defect: the attempt counts as failed, and is retried
            log.exception("webhook delivery %d attempt %d", attempt.delivery_id, attempt.number)
            outcome = Outcome(False, None, f"Internal error: {type(exc).__name__}.")
        self.metrics.inc("onetask_webhook_attempts_total", "Webhook delivery attempts made")
        if not outcome.succeeded:
            self.metrics.inc(
                "onetask_webhook_failed_attempts_total", "Webhook attempts that failed"
            )
            log.info(
                "webhook delivery %d attempt %d failed: %s",
                attempt.delivery_id,
                attempt.number,
                outcome.error,
            )
        try:
            async with self.database.session(write=True) as session:
                next_at = await delivery.settle(session, attempt, outcome, utcnow(), self.schedule)
                await uow.commit(session)
        except Exception as exc:  # the lease runs out, and the attempt is made again
            log_failed_round(log, f"recording webhook delivery {attempt.delivery_id}", exc)
            return
        # Its next attempt may be due before the scheduler's next round, or it made room
        # for attempts that were waiting.
        if next_at is not None or len(self.in_flight) >= self.max_in_flight:
            self.wake()


class FanOut:
    name = "webhook fan-out"

    def __init__(self, webhooks: Webhooks, sweep_interval_s: float) -> None:
        self.webhooks = webhooks
        self.sweep_interval_s = sweep_interval_s
        self._sweep_at = 0.0  # monotonic; the first round sweeps
        self._workspaces: set[int] = set()
        self._again: set[int] = set()  # webhooks with more events than one batch
        # Workspaces with an enabled webhook, as of the last sweep (or a change here). One
        # made by another process since is found by the next sweep, which sends what its
        # workspace's channel carried meanwhile: later, never lost.
        self._hooked: set[int] = set()

    def mark(self, workspace_ids: set[int]) -> bool:
        """Fan out these workspaces' new events soon; False if none has a webhook."""
        hooked = workspace_ids & self._hooked
        self._workspaces |= hooked
        return bool(hooked)

    def sweep_soon(self) -> None:
        self._sweep_at = 0.0

    async def due(self, session: AsyncSession, now: datetime, limit: int) -> list[int]:
        again, self._again = self._again, set()
        if time.monotonic() >= self._sweep_at:
            self._sweep_at = time.monotonic() + self.sweep_interval_s
            self._workspaces.clear()
            return sorted(again | set(await self._behind(session)))[:limit]
        workspaces, self._workspaces = self._workspaces, set()
        found = (
            await repository.enabled_in(session, sorted(workspaces), limit) if workspaces else []
        )
        return sorted(again | set(found))[:limit]

    async def run(self, session: AsyncSession, pk: int, now: datetime) -> bool:
        read = await delivery.fan_out(session, pk, now, self.webhooks.schedule.retry_for_s)
        if read == FANOUT_BATCH:
            self._again.add(pk)
        return read > 0

    async def next_at(self, session: AsyncSession) -> datetime | None:
        return utcnow() if self._again or self._workspaces else None

    async def _behind(self, session: AsyncSession) -> list[int]:
        """Enabled webhooks whose cursor is behind their workspace channel's head."""
        cursors = await repository.cursors(session)
        self._hooked = {w for _, w, _ in cursors}
        channels = sorted({workspace_channel(w) for _, w, _ in cursors})
        heads: dict[str, int] = {}
        for start in range(0, len(channels), _HEADS_PER_QUERY):
            heads |= await repository.heads(session, channels[start : start + _HEADS_PER_QUERY])
        return [pk for pk, w, cursor in cursors if heads.get(workspace_channel(w), 0) > cursor]


class Attempts:
    name = "webhook deliveries"

    def __init__(self, webhooks: Webhooks) -> None:
        self.webhooks = webhooks

    def _capacity(self) -> int:
        return self.webhooks.max_in_flight - len(self.webhooks.in_flight)

    async def due(self, session: AsyncSession, now: datetime, limit: int) -> list[int]:
        capacity = self._capacity()
        return await repository.due(session, now, min(limit, capacity)) if capacity > 0 else []

    async def run(self, session: AsyncSession, pk: int, now: datetime) -> bool:
        if self._capacity() <= 0:
            return False
        claimed = await delivery.claim(session, pk, now, self.webhooks.schedule)
        if isinstance(claimed, Attempt):
            uow.after_commit(session, lambda: self.webhooks.launch(claimed))
            return True
        return claimed

    async def next_at(self, session: AsyncSession) -> datetime | None:
        return await repository.next_attempt(session)
