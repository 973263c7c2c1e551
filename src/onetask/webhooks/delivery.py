"""From the event log to the receiver: fan-out, claim, attempt, settle.

- Fan-out turns a webhook's new events into delivery rows and advances its cursor in the
  same transaction, after the events committed (it reads them from the log): an event
  becomes exactly one delivery per subscribed webhook, whatever crashes.
- An attempt is claimed with a conditional UPDATE (the attempt count is its version) that
  also moves `next_attempt_at` to the end of a lease: if the process dies, the delivery
  is due again then, and another process tries it (at least once, never lost).
- The outcome is recorded only if the claim still holds. A delivery is retried with
  exponential backoff and jitter until `retry_until`; one that fails past it disables its
  webhook and tells the workspace's owners and admins (a `system` notification).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from onetask.db.models import Webhook, WebhookDelivery
from onetask.events.channels import workspace_channel
from onetask.events.messages import iso_utc
from onetask.notifications.service import Draft, deliver
from onetask.webhooks import repository
from onetask.webhooks.catalog import event_name, subscribed
from onetask.webhooks.repository import FAILED, PENDING, SUCCEEDED
from onetask.webhooks.sender import Outcome
from onetask.webhooks.signing import headers

FANOUT_BATCH = 500


@dataclass(frozen=True, slots=True)
class Schedule:
    base_s: float
    max_delay_s: float
    retry_for_s: float
    lease_s: float

    def delay_after(self, attempt: int) -> float:
        """Exponential from `base_s`, capped, with jitter: between half of it and all."""
        delay = min(self.max_delay_s, self.base_s * 2.0 ** min(attempt - 1, 60))
        return delay * (0.5 + random.random() / 2)


@dataclass(frozen=True, slots=True)
class Attempt:
    delivery_id: int
    number: int
    webhook_id: int
    url: str
    headers_of: tuple[str, str]  # (event type, secret): headers are signed when sent
    body: bytes

    def headers(self, timestamp: int) -> dict[str, str]:
        event_type, secret = self.headers_of
        return headers(self.delivery_id, event_type, secret, timestamp, self.body)


async def fan_out(session: AsyncSession, webhook_id: int, now: datetime, retry_for_s: float) -> int:
    """Turn the webhook's next events into deliveries; how many events it read (0: none
    new, or another process is on it)."""
    webhook = await repository.get(session, webhook_id, lock=True)
    if webhook is None or not webhook.enabled:
        return 0
    events = await repository.events_after(
        session, workspace_channel(webhook.workspace_id), webhook.cursor_seq, FANOUT_BATCH
    )
    if not events:
        return 0
    subscription = frozenset(webhook.event_types.split())
    retry_until = now + timedelta(seconds=retry_for_s)
    rows: list[dict[str, Any]] = []
    for seq, message, created_at in events:
        parsed = orjson.loads(message)
        if not subscribed(subscription, parsed["type"], parsed.get("action")):
            continue
        name = event_name(parsed["type"], parsed.get("action"))
        payload = {
            "type": name,
            "workspace_id": webhook.workspace_id,
            "seq": seq,
            "occurred_at": iso_utc(created_at),
            "data": parsed.get("data"),
        }
        rows.append(
            _pending(webhook.id, seq, name, orjson.dumps(payload).decode(), now, retry_until)
        )
    await repository.add_deliveries(session, rows)
    webhook.cursor_seq = events[-1][0]
    await session.flush()
    return len(events)


def _pending(
    webhook_id: int, seq: int, name: str, payload: str, now: datetime, retry_until: datetime
) -> dict[str, Any]:
    return {
        "webhook_id": webhook_id,
        "event_seq": seq,
        "event_type": name,
        "payload": payload,
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "retry_until": retry_until,
        "created_at": now,
    }


def body(delivery: WebhookDelivery) -> bytes:
    """`{"id": …, <the stored payload's fields>}`: the same bytes on every attempt."""
    return b'{"id":' + str(delivery.id).encode() + b"," + delivery.payload.encode()[1:]


async def claim(
    session: AsyncSession, delivery_id: int, now: datetime, schedule: Schedule
) -> Attempt | bool:
    """The next attempt of a due delivery, claimed by this process. Else False when there
    is nothing to do (another process claimed it first, or it is no longer due), True
    when its webhook was disabled meanwhile (its pending deliveries were failed)."""
    found = await repository.with_webhook(session, delivery_id)
    if found is None:
        return False
    delivery, webhook = found
    if delivery.status != PENDING or delivery.next_attempt_at is None:
        return False
    if delivery.next_attempt_at > now:
        return False
    if not webhook.enabled:
        await repository.fail_pending(session, webhook.id, "The webhook was disabled.")
        return True
    lease_until = now + timedelta(seconds=schedule.lease_s)
    if not await repository.claim(session, delivery.id, delivery.attempts, now, lease_until):
        return False
    return Attempt(
        delivery.id,
        delivery.attempts + 1,
        webhook.id,
        webhook.url,
        (delivery.event_type, webhook.secret),
        body(delivery),
    )


async def settle(
    session: AsyncSession, attempt: Attempt, outcome: Outcome, now: datetime, schedule: Schedule
) -> datetime | None:
    """Record the outcome; the delivery's next attempt time, if it has one.

    The webhook's row is locked first, as every transaction that changes both a webhook
    and its deliveries does (fan-out, admin changes), so that none can deadlock."""
    webhook = await repository.get(session, attempt.webhook_id, lock=True)
    if webhook is None:
        return None  # deleted meanwhile, with its deliveries
    if outcome.succeeded:
        values: dict[str, Any] = {"status": SUCCEEDED, "next_attempt_at": None, "delivered_at": now}
        if await _record(session, attempt, outcome, values):
            await repository.set_failing(session, webhook.id, None)
        return None
    delivery = await repository.delivery(session, webhook.id, attempt.delivery_id)
    if delivery is None or delivery.attempts != attempt.number or delivery.status != PENDING:
        return None  # taken over by another process (its lease ran out) or an admin
    if now >= delivery.retry_until:
        await _record(session, attempt, outcome, {"status": FAILED, "next_attempt_at": None})
        await _disable(session, webhook, delivery, outcome, now)
        return None
    next_at = min(
        now + timedelta(seconds=schedule.delay_after(attempt.number)), delivery.retry_until
    )
    if await _record(session, attempt, outcome, {"next_attempt_at": next_at}):
        await repository.set_failing(session, webhook.id, now)
    return next_at


async def _record(
    session: AsyncSession, attempt: Attempt, outcome: Outcome, values: dict[str, Any]
) -> bool:
    values = {**values, "response_status": outcome.status, "last_error": outcome.error}
    return await repository.settle(session, attempt.delivery_id, attempt.number, values)


async def _disable(
    session: AsyncSession,
    webhook: Webhook,
    delivery: WebhookDelivery,
    outcome: Outcome,
    now: datetime,
) -> None:
    """Disable the (locked) webhook, fail its pending deliveries and tell its admins."""
    if not webhook.enabled:
        return
    since = webhook.failing_since or delivery.created_at
    failed_for = _duration(now - since)
    reason = f"Deliveries failed for {failed_for}; the last: {outcome.error}"
    webhook.enabled, webhook.disabled_at, webhook.disabled_reason = False, now, reason[:500]
    webhook.updated_at = now
    await session.flush()
    await repository.fail_pending(session, webhook.id, "The webhook was disabled.")
    content = (
        f"The webhook to {webhook.url} was disabled after its deliveries failed for "
        f"{failed_for} (last: {outcome.error}). Fix the receiver, then enable it again."
    )
    drafts = [
        Draft(user_id, "system", "Webhook disabled", content, "webhook", str(webhook.id))
        for user_id in await repository.admins(session, webhook.workspace_id)
    ]
    await deliver(session, drafts)


def _duration(span: timedelta) -> str:
    seconds = span.total_seconds()
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds:.0f} s"
