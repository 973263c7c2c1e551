"""Webhook management (workspace owners and admins only): create, change, delete, the
delivery log, a test ping and a redelivery."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from onetask.cursors import decode_cursor, encode_cursor, malformed
from onetask.db import uow
from onetask.db.models import Webhook, WebhookDelivery
from onetask.db.types import utcnow
from onetask.errors import Conflict, Forbidden, InvalidInput, NotFound, input_error
from onetask.events import outbox
from onetask.events.channels import workspace_channel
from onetask.inputs import MAX_ID
from onetask.scheduler import wake_after_commit
from onetask.webhooks import repository
from onetask.webhooks.catalog import PING
from onetask.webhooks.repository import PENDING
from onetask.webhooks.schemas import DeliveryFilters, WebhookIn, WebhookPatch
from onetask.webhooks.signing import new_secret
from onetask.workspaces.service import Access

MAX_WEBHOOKS_PER_WORKSPACE = 20
# Called after a commit that created or enabled a webhook (this process's fan-out learns
# of it at once; the others at their next sweep).
WEBHOOKS_CHANGED = "webhooks_changed"


class WebhookNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such webhook in this workspace.")


class DeliveryNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such delivery of this webhook.")


def event_types(webhook: Webhook) -> list[str]:
    return webhook.event_types.split()


def secret_hint(webhook: Webhook) -> str:
    return "…" + webhook.secret[-4:]


async def create(
    session: AsyncSession, acc: Access, data: WebhookIn, allowed_hosts: frozenset[str] | None
) -> tuple[Webhook, str]:
    """The new webhook and its secret (shown once). It is sent what the workspace's
    channel carries from now on."""
    _require_admin(acc)
    require_allowed_host(data.url, allowed_hosts)
    if await repository.count(session, acc.workspace.id) >= MAX_WEBHOOKS_PER_WORKSPACE:
        raise Conflict(
            f"A workspace has at most {MAX_WEBHOOKS_PER_WORKSPACE} webhooks; delete one first."
        )
    now = utcnow()
    secret = data.secret or new_secret()
    webhook = Webhook(
        workspace_id=acc.workspace.id,
        url=data.url,
        secret=secret,
        event_types=" ".join(data.event_types),
        enabled=data.enabled,
        cursor_seq=await _channel_head(session, acc.workspace.id),
        created_by=acc.user_id,
        created_at=now,
        updated_at=now,
        disabled_at=None if data.enabled else now,
        disabled_reason=None if data.enabled else "Created disabled.",
    )
    _changed_after_commit(session)
    return await repository.add(session, webhook), secret


async def listing(session: AsyncSession, acc: Access) -> list[Webhook]:
    _require_admin(acc)
    return await repository.in_workspace(session, acc.workspace.id)


async def get(
    session: AsyncSession, acc: Access, webhook_id: int, *, lock: bool = False
) -> Webhook:
    _require_admin(acc)
    webhook = await repository.get(session, webhook_id, workspace_id=acc.workspace.id, lock=lock)
    if webhook is None:
        raise WebhookNotFound()
    return webhook


async def update(
    session: AsyncSession,
    acc: Access,
    webhook_id: int,
    patch: WebhookPatch,
    allowed_hosts: frozenset[str] | None,
) -> Webhook:
    webhook = await get(session, acc, webhook_id, lock=True)
    now = utcnow()
    if patch.url is not None:
        require_allowed_host(patch.url, allowed_hosts)
        webhook.url = patch.url
    if patch.event_types is not None:
        webhook.event_types = " ".join(patch.event_types)
    if patch.secret is not None:
        webhook.secret = patch.secret
    if patch.enabled is True and not webhook.enabled:
        # From now on: what happened while it was off is not sent (redeliver old ones).
        webhook.cursor_seq = await _channel_head(session, webhook.workspace_id)
        webhook.enabled, webhook.disabled_at, webhook.disabled_reason = True, None, None
        webhook.failing_since = None
        _changed_after_commit(session)
    elif patch.enabled is False and webhook.enabled:
        reason = "Disabled by an admin."
        webhook.enabled, webhook.disabled_at, webhook.disabled_reason = False, now, reason
        await repository.fail_pending(session, webhook.id, "The webhook was disabled.")
    webhook.updated_at = now
    await session.flush()
    return webhook


async def remove(session: AsyncSession, acc: Access, webhook_id: int) -> None:
    await repository.remove(session, await get(session, acc, webhook_id, lock=True))


async def deliveries(
    session: AsyncSession, acc: Access, webhook_id: int, filters: DeliveryFilters
) -> tuple[list[WebhookDelivery], str | None]:
    """The webhook's deliveries, newest first."""
    webhook = await get(session, acc, webhook_id)
    before_id = _decode_cursor(filters.cursor) if filters.cursor else None
    rows = await repository.deliveries(
        session, webhook.id, status=filters.status, before_id=before_id, limit=filters.limit + 1
    )
    if len(rows) <= filters.limit:
        return rows, None
    items = rows[: filters.limit]
    return items, encode_cursor({"d": items[-1].id})


async def ping(
    session: AsyncSession, acc: Access, webhook_id: int, retry_for_s: float
) -> WebhookDelivery:
    """A `ping` delivery, sent now whatever the webhook subscribes to."""
    webhook = await _enabled(session, acc, webhook_id)
    now = utcnow()
    payload = orjson.dumps(
        {
            "type": PING,
            "workspace_id": webhook.workspace_id,
            "seq": None,
            "occurred_at": now.isoformat().replace("+00:00", "Z"),
            "data": {"webhook_id": webhook.id},
        }
    ).decode()
    row = WebhookDelivery(
        webhook_id=webhook.id,
        event_seq=None,
        event_type=PING,
        payload=payload,
        status=PENDING,
        attempts=0,
        next_attempt_at=now,
        retry_until=now + timedelta(seconds=retry_for_s),
        created_at=now,
    )
    await repository.add_delivery(session, row)
    wake_after_commit(session)  # due now, not at the next poll
    return row


async def redeliver(
    session: AsyncSession, acc: Access, webhook_id: int, delivery_id: int, retry_for_s: float
) -> WebhookDelivery:
    """Send a delivery again, with the same id and body, and retry it as a new one."""
    webhook = await _enabled(session, acc, webhook_id)
    row = await repository.delivery(session, webhook.id, delivery_id)
    if row is None:
        raise DeliveryNotFound()
    if row.status == PENDING:
        return row  # already on its way
    now = utcnow()
    row.status, row.next_attempt_at = PENDING, now
    row.retry_until = now + timedelta(seconds=retry_for_s)
    await session.flush()
    wake_after_commit(session)  # due now, not at the next poll
    return row


async def _enabled(session: AsyncSession, acc: Access, webhook_id: int) -> Webhook:
    webhook = await get(session, acc, webhook_id, lock=True)
    if not webhook.enabled:
        raise Conflict("The webhook is disabled: enable it first (PATCH enabled=true).")
    return webhook


async def _channel_head(session: AsyncSession, workspace_id: int) -> int:
    # Share-locks the head on PostgreSQL: an event committing meanwhile is either before
    # the cursor, or after it and sent (never lost between the two).
    return await outbox.last_seq(session, workspace_channel(workspace_id))


def allowed_host(url: str, allowed_hosts: frozenset[str] | None) -> bool:
    host = urlsplit(url).hostname
    return allowed_hosts is None or (host is not None and host.lower() in allowed_hosts)


def require_allowed_host(url: str, allowed_hosts: frozenset[str] | None) -> None:
    if not allowed_host(url, allowed_hosts):
        msg = f"This server sends webhooks only to {', '.join(sorted(allowed_hosts or ()))}."
        raise InvalidInput(msg, errors=[input_error(["body", "url"], msg, "host_not_allowed")])


def _changed_after_commit(session: AsyncSession) -> None:
    listener = session.info.get("listeners", {}).get(WEBHOOKS_CHANGED)
    if listener is not None:
        uow.after_commit(session, listener)


def _require_admin(acc: Access) -> None:
    if not acc.is_admin:
        raise Forbidden("Only an owner or admin can manage the workspace's webhooks.")


def _decode_cursor(cursor: str) -> int:
    before = decode_cursor(cursor).get("d")
    if not isinstance(before, int) or isinstance(before, bool) or not 0 < before <= MAX_ID:
        raise malformed()
    return before
