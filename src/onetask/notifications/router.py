from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from onetask.auth.deps import CurrentUser
from onetask.db import uow
from onetask.db.deps import DbSession
from onetask.db.models import Notification
from onetask.inputs import PathId, or_not_found
from onetask.notifications import service
from onetask.notifications.schemas import (
    Count,
    NotificationFilters,
    NotificationOut,
    NotificationPage,
    Preferences,
)
from onetask.notifications.service import NotificationNotFound
from onetask.openapi import problems
from onetask.routing import ApiRoute

router = APIRouter(
    prefix="/notifications",
    tags=["notifications"],
    responses=problems(401, 422),
    route_class=ApiRoute,
)
NotificationId = Annotated[PathId, or_not_found(NotificationNotFound)]


def _out(row: Notification) -> NotificationOut:
    # The REST view is the wire message's data plus `read_at`.
    return NotificationOut(**service.wire_data(row).model_dump(), read_at=row.read_at)


@router.get("", response_model=NotificationPage)
async def list_notifications(
    user: CurrentUser, session: DbSession, filters: Annotated[NotificationFilters, Query()]
) -> NotificationPage:
    """Your inbox, newest first."""
    items, cursor = await service.page(session, user, filters)
    return NotificationPage(items=[_out(n) for n in items], next_cursor=cursor)


@router.get("/unread-count", response_model=Count)
async def unread_count(user: CurrentUser, session: DbSession) -> Count:
    return Count(count=await service.unread_count(session, user))


@router.post("/read-all", response_model=Count)
async def read_all(user: CurrentUser, session: DbSession) -> Count:
    """Mark every unread notification read; `count` says how many changed.

    Your other connections receive `{"type":"notification_read","data":{"all":true}}`.
    """
    count = await service.mark_all_read(session, user)
    await uow.commit(session)
    return Count(count=count)


@router.get("/preferences", response_model=Preferences)
async def read_preferences(user: CurrentUser, session: DbSession) -> Preferences:
    return Preferences(muted=await service.muted(session, user))


@router.put("/preferences", response_model=Preferences)
async def replace_preferences(
    preferences: Preferences, user: CurrentUser, session: DbSession
) -> Preferences:
    """Replace the muted types; muted notifications are neither stored nor pushed."""
    muted = await service.set_muted(session, user, preferences.muted)
    await uow.commit(session)
    return Preferences(muted=muted)


@router.post("/{notification_id}/read", response_model=NotificationOut, responses=problems(404))
async def mark_read(
    notification_id: NotificationId, user: CurrentUser, session: DbSession
) -> NotificationOut:
    """Mark one notification read (idempotent).

    Your other connections receive `{"type":"notification_read","data":{"ids":[id]}}`.
    """
    row = await service.mark_read(session, user, notification_id)
    await uow.commit(session)
    return _out(row)


@router.delete(
    "/{notification_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problems(404)
)
async def delete_notification(
    notification_id: NotificationId, user: CurrentUser, session: DbSession
) -> Response:
    await service.remove(session, user, notification_id)
    await uow.commit(session)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
