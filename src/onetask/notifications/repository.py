"""All SQL of notifications and notification preferences."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from onetask.db.models import Base, ChannelHead, Membership, Notification, NotificationMute

_NOTIFICATIONS = Base.metadata.tables[Notification.__tablename__]
# Core, one prebuilt statement per row: the ORM's unit of work took 6 % of a task change
# to insert one row, and a many-row INSERT … RETURNING is rewritten on every execution.
_INSERT = insert(_NOTIFICATIONS).returning(_NOTIFICATIONS.c.id)
_INSERTED = [
    "user_id",
    "type",
    "title",
    "content",
    "created_at",
    "read",
    "related_entity_type",
    "related_entity_id",
]


async def add_all(session: AsyncSession, notifications: list[Notification]) -> None:
    """Insert new notifications (a change makes one or two) and give each its id.

    They are not added to the session: nothing in a request changes a notification it
    has just created."""
    for notification in notifications:
        row = {column: getattr(notification, column) for column in _INSERTED}
        notification.id = (await session.execute(_INSERT, row)).scalar_one()


async def get(session: AsyncSession, user_id: int, notification_id: int) -> Notification | None:
    query = select(Notification).where(
        Notification.id == notification_id, Notification.user_id == user_id
    )
    return (await session.execute(query)).scalar_one_or_none()


async def page(
    session: AsyncSession, user_id: int, *, unread_only: bool, before_id: int | None, limit: int
) -> list[Notification]:
    query = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(Notification.read.is_(False))
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    query = query.order_by(Notification.id.desc()).limit(limit)
    return list((await session.execute(query)).scalars())


async def count_unread(session: AsyncSession, user_id: int) -> int:
    query = select(func.count()).where(
        Notification.user_id == user_id, Notification.read.is_(False)
    )
    return int((await session.execute(query)).scalar_one())


async def mark_all_read(session: AsyncSession, user_id: int, now: datetime) -> int:
    statement = (
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read.is_(False))
        .values(read=True, read_at=now)
        .execution_options(synchronize_session=False)
    )
    result = cast(CursorResult[Any], await session.execute(statement))
    return int(result.rowcount)


async def remove(session: AsyncSession, notification: Notification) -> None:
    await session.delete(notification)
    await session.flush()


async def lock_inbox(session: AsyncSession, channel: str) -> None:
    """Take the inbox channel's counter lock now rather than at commit (PostgreSQL).

    A read-state change must be ordered against notifications being created: whoever
    holds this lock first commits first, so `{"all": true}` never overtakes (and
    wrongly marks read) a notification its UPDATE did not see, and mark-read and
    read-all always lock in the same order (counter, then rows). SQLite already
    serializes writers.
    """
    query = select(ChannelHead.last_seq).where(ChannelHead.channel == channel).with_for_update()
    await session.execute(query)


async def muted(session: AsyncSession, user_id: int) -> set[str]:
    query = select(NotificationMute.type).where(NotificationMute.user_id == user_id)
    return set((await session.execute(query)).scalars())


async def mutes_of(session: AsyncSession, user_ids: Iterable[int]) -> set[tuple[int, str]]:
    query = select(NotificationMute.user_id, NotificationMute.type).where(
        NotificationMute.user_id.in_(list(user_ids))
    )
    return {(user_id, kind) for user_id, kind in (await session.execute(query)).all()}


async def set_muted(session: AsyncSession, user_id: int, kinds: Iterable[str]) -> None:
    await session.execute(delete(NotificationMute).where(NotificationMute.user_id == user_id))
    session.add_all(NotificationMute(user_id=user_id, type=kind) for kind in kinds)
    await session.flush()


# Built once: every task change runs it, and composing it costs more than running it.
# A task change has at most two recipients (its owner and its assignee), so the IN has
# two fixed parameters: an expanding IN is rewritten into new SQL on every execution
# (3 % of a task change).
_MEMBERS_AND_MUTES = (
    select(Membership.user_id, NotificationMute.type)
    .outerjoin(NotificationMute, NotificationMute.user_id == Membership.user_id)
    .where(
        Membership.workspace_id == bindparam("workspace_id"),
        Membership.user_id.in_([bindparam("first"), bindparam("second")]),
    )
)


async def members_and_mutes(
    session: AsyncSession, workspace_id: int, user_ids: Collection[int]
) -> tuple[set[int], set[tuple[int, str]]]:
    """Which of `user_ids` (one or two) are members of the workspace, and what those
    members muted."""
    if not 1 <= len(user_ids) <= 2:
        raise ValueError(f"one or two users, not {len(user_ids)}")
    first, *rest = user_ids
    params = {"workspace_id": workspace_id, "first": first, "second": rest[0] if rest else first}
    rows = (await session.execute(_MEMBERS_AND_MUTES, params)).all()
    mutes = {(user_id, kind) for user_id, kind in rows if kind is not None}
    return {user_id for user_id, _ in rows}, mutes
