"""All SQL of webhooks and their deliveries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from onetask.db.models import ChannelHead, Event, Membership, Webhook, WebhookDelivery

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"


async def count(session: AsyncSession, workspace_id: int) -> int:
    query = select(func.count()).select_from(Webhook).where(Webhook.workspace_id == workspace_id)
    return int((await session.execute(query)).scalar_one())


async def add(session: AsyncSession, webhook: Webhook) -> Webhook:
    session.add(webhook)
    await session.flush()
    return webhook


async def in_workspace(session: AsyncSession, workspace_id: int) -> list[Webhook]:
    query = select(Webhook).where(Webhook.workspace_id == workspace_id).order_by(Webhook.id)
    return list((await session.execute(query)).scalars())


async def get(
    session: AsyncSession, webhook_id: int, *, workspace_id: int | None = None, lock: bool = False
) -> Webhook | None:
    """`lock` takes the webhook's row lock: fan-out, settling and admin changes of one
    webhook are serialized by it (SQLite serializes writers anyway)."""
    query = select(Webhook).where(Webhook.id == webhook_id)
    if workspace_id is not None:
        query = query.where(Webhook.workspace_id == workspace_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def remove(session: AsyncSession, webhook: Webhook) -> None:
    await session.execute(delete(Webhook).where(Webhook.id == webhook.id))


async def fail_pending(session: AsyncSession, webhook_id: int, reason: str) -> None:
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.status == PENDING)
        .values(status=FAILED, next_attempt_at=None, last_error=reason)
    )


async def admins(session: AsyncSession, workspace_id: int) -> list[int]:
    query = (
        select(Membership.user_id)
        .where(Membership.workspace_id == workspace_id, Membership.role.in_(("owner", "admin")))
        .order_by(Membership.user_id)
    )
    return list((await session.execute(query)).scalars())


# Deliveries: the log


async def deliveries(
    session: AsyncSession, webhook_id: int, *, status: str | None, before_id: int | None, limit: int
) -> list[WebhookDelivery]:
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if before_id is not None:
        query = query.where(WebhookDelivery.id < before_id)
    return list((await session.execute(query)).scalars())


async def delivery(
    session: AsyncSession, webhook_id: int, delivery_id: int
) -> WebhookDelivery | None:
    query = select(WebhookDelivery).where(
        WebhookDelivery.id == delivery_id, WebhookDelivery.webhook_id == webhook_id
    )
    return (await session.execute(query)).scalar_one_or_none()


async def add_delivery(session: AsyncSession, row: WebhookDelivery) -> WebhookDelivery:
    session.add(row)
    await session.flush()
    return row


# Fan-out: events → deliveries


async def enabled_in(session: AsyncSession, workspace_ids: Sequence[int], limit: int) -> list[int]:
    query = (
        select(Webhook.id)
        .where(Webhook.workspace_id.in_(workspace_ids), Webhook.enabled.is_(True))
        .order_by(Webhook.id)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def cursors(session: AsyncSession) -> list[tuple[int, int, int]]:
    """(webhook id, workspace id, cursor) of every enabled webhook."""
    query = select(Webhook.id, Webhook.workspace_id, Webhook.cursor_seq).where(
        Webhook.enabled.is_(True)
    )
    return [(row[0], row[1], row[2]) for row in (await session.execute(query)).all()]


async def heads(session: AsyncSession, channels: Sequence[str]) -> dict[str, int]:
    query = select(ChannelHead.channel, ChannelHead.last_seq).where(
        ChannelHead.channel.in_(channels)
    )
    return {row[0]: row[1] for row in (await session.execute(query)).all()}


async def events_after(
    session: AsyncSession, channel: str, seq: int, limit: int
) -> list[tuple[int, str, datetime]]:
    query = (
        select(Event.seq, Event.message, Event.created_at)
        .where(Event.channel == channel, Event.seq > seq)
        .order_by(Event.seq)
        .limit(limit)
    )
    return [(row[0], row[1], row[2]) for row in (await session.execute(query)).all()]


async def add_deliveries(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(WebhookDelivery), rows)


# Attempts


async def due(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    query = (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def next_attempt(session: AsyncSession) -> datetime | None:
    query = (
        select(WebhookDelivery.next_attempt_at)
        .where(WebhookDelivery.next_attempt_at.is_not(None))
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def with_webhook(
    session: AsyncSession, delivery_id: int
) -> tuple[WebhookDelivery, Webhook] | None:
    query = (
        select(WebhookDelivery, Webhook)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(WebhookDelivery.id == delivery_id)
    )
    row = (await session.execute(query)).first()
    return (row[0], row[1]) if row else None


async def claim(
    session: AsyncSession, delivery_id: int, attempts: int, now: datetime, lease_until: datetime
) -> bool:
    """Take attempt `attempts + 1`, if no other process took it first: the attempt count
    is the claim's version, and the lease is the next attempt's time."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == PENDING,
            WebhookDelivery.attempts == attempts,
            WebhookDelivery.next_attempt_at <= now,
        )
        .values(attempts=attempts + 1, next_attempt_at=lease_until, last_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    return _changed(result)


async def settle(
    session: AsyncSession, delivery_id: int, attempt: int, values: dict[str, Any]
) -> bool:
    """Record attempt `attempt`'s outcome, unless the delivery has moved on since (its
    lease expired and another process took the next attempt, or an admin redelivered)."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == PENDING,
            WebhookDelivery.attempts == attempt,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return _changed(result)


async def set_failing(session: AsyncSession, webhook_id: int, since: datetime | None) -> None:
    """`failing_since` from the first failure on, cleared by a success (written only when
    it changes)."""
    condition = Webhook.failing_since.is_(None) if since else Webhook.failing_since.is_not(None)
    await session.execute(
        update(Webhook)
        .where(Webhook.id == webhook_id, condition)
        .values(failing_since=since)
        .execution_options(synchronize_session=False)
    )


def _changed(result: Any) -> bool:
    assert isinstance(result, CursorResult)
    return result.rowcount == 1
