from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from onetask.auth.deps import AppSettings
from onetask.db import uow
from onetask.db.deps import DbSession
from onetask.db.models import Webhook, WebhookDelivery
from onetask.inputs import PathId, or_not_found
from onetask.openapi import problems
from onetask.routing import ApiRoute
from onetask.webhooks import service
from onetask.webhooks.schemas import (
    DeliveryFilters,
    DeliveryOut,
    DeliveryPage,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
    WebhookPatch,
)
from onetask.webhooks.service import DeliveryNotFound, WebhookNotFound
from onetask.workspaces.deps import WorkspaceAccess

router = APIRouter(
    prefix="/workspaces/{workspace_id}/webhooks",
    tags=["webhooks"],
    responses=problems(401, 403, 404, 422, 503),
    route_class=ApiRoute,
)
WebhookId = Annotated[PathId, or_not_found(WebhookNotFound)]
DeliveryId = Annotated[PathId, or_not_found(DeliveryNotFound)]


def _out(webhook: Webhook) -> WebhookOut:
    return WebhookOut(
        id=webhook.id,
        workspace_id=webhook.workspace_id,
        url=webhook.url,
        event_types=service.event_types(webhook),
        enabled=webhook.enabled,
        secret_hint=service.secret_hint(webhook),
        created_at=webhook.created_at,
        updated_at=webhook.updated_at,
        disabled_at=webhook.disabled_at,
        disabled_reason=webhook.disabled_reason,
        failing_since=webhook.failing_since,
    )


def _delivery_out(row: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut.model_validate(row, from_attributes=True)


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=WebhookCreated, responses=problems(409)
)
async def create_webhook(
    data: WebhookIn, acc: WorkspaceAccess, session: DbSession, settings: AppSettings
) -> WebhookCreated:
    """Owners and admins: POST the workspace's events to `url`, signed with `secret`
    (generated unless given, and shown only in this answer). It is sent what happens from
    now on; README "Webhooks" says how to verify a delivery."""
    webhook, secret = await service.create(session, acc, data, settings.webhook_host_allow_list)
    await uow.commit(session)
    return WebhookCreated(**_out(webhook).model_dump(), secret=secret)


@router.get("", response_model=list[WebhookOut])
async def list_webhooks(acc: WorkspaceAccess, session: DbSession) -> list[WebhookOut]:
    return [_out(w) for w in await service.listing(session, acc)]


@router.get("/{webhook_id}", response_model=WebhookOut)
async def read_webhook(
    webhook_id: WebhookId, acc: WorkspaceAccess, session: DbSession
) -> WebhookOut:
    return _out(await service.get(session, acc, webhook_id))


@router.patch("/{webhook_id}", response_model=WebhookOut)
async def update_webhook(
    webhook_id: WebhookId,
    patch: WebhookPatch,
    acc: WorkspaceAccess,
    session: DbSession,
    settings: AppSettings,
) -> WebhookOut:
    """Change the URL, the event types or the secret; disable or enable it. Disabling
    fails its pending deliveries; enabling sends what happens from then on."""
    webhook = await service.update(
        session, acc, webhook_id, patch, settings.webhook_host_allow_list
    )
    await uow.commit(session)
    return _out(webhook)


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook(
    webhook_id: WebhookId, acc: WorkspaceAccess, session: DbSession
) -> Response:
    """Delete it with its delivery log; an attempt already on its way may still arrive."""
    await service.remove(session, acc, webhook_id)
    await uow.commit(session)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{webhook_id}/deliveries", response_model=DeliveryPage)
async def list_deliveries(
    webhook_id: WebhookId,
    acc: WorkspaceAccess,
    session: DbSession,
    filters: Annotated[DeliveryFilters, Query()],
) -> DeliveryPage:
    """The delivery log, newest first: status, attempts, the receiver's last status code
    and error, and when it is tried next."""
    items, cursor = await service.deliveries(session, acc, webhook_id, filters)
    return DeliveryPage(items=[_delivery_out(d) for d in items], next_cursor=cursor)


@router.post(
    "/{webhook_id}/ping",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryOut,
    responses=problems(409),
)
async def ping_webhook(
    webhook_id: WebhookId, acc: WorkspaceAccess, session: DbSession, settings: AppSettings
) -> DeliveryOut:
    """Send a `ping` delivery now (whatever the webhook subscribes to); follow it in the
    delivery log. 409 while the webhook is disabled."""
    row = await service.ping(session, acc, webhook_id, settings.webhook_retry_for_s)
    await uow.commit(session)
    return _delivery_out(row)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryOut,
    responses=problems(409),
)
async def redeliver(
    webhook_id: WebhookId,
    delivery_id: DeliveryId,
    acc: WorkspaceAccess,
    session: DbSession,
    settings: AppSettings,
) -> DeliveryOut:
    """Send a delivery again, with the same `Webhook-Id` and body, retried as a new one.
    409 while the webhook is disabled."""
    row = await service.redeliver(
        session, acc, webhook_id, delivery_id, settings.webhook_retry_for_s
    )
    await uow.commit(session)
    return _delivery_out(row)
