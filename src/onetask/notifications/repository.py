"""All SQL of notifications and notification preferences."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    bindparam,
    delete,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from onetask.db.models import (
    Base,
    ChannelHead,
    Membership,
    Notification,
    NotificationMute,
    User,
)

_NOTIFICATIONS = Base.metadata.tables[Notification.__tablename__]
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


def _insert_if(*conditions: ColumnElement[bool]) -> ReturningInsert[Any]:
    """INSERT … SELECT of one notification's values, stored only where `conditions` hold:
    a row comes back (its id) only if it was stored.

    Core, prebuilt: the ORM's unit of work took 6 % of a task change to insert one row,
    and reading the recipients' memberships and mutes first took one more statement."""
    values = select(*(bindparam(c, type_=_NOTIFICATIONS.c[c].type) for c in _INSERTED))
    insert_ = insert(_NOTIFICATIONS).from_select(_INSERTED, values.where(*conditions))
    return insert_.returning(_NOTIFICATIONS.c.id)


_UNMUTED = ~exists().where(
    NotificationMute.user_id == bindparam("user_id"),
    NotificationMute.type == bindparam("type"),
)
_MEMBER = exists().where(
    Membership.workspace_id == bindparam("workspace_id"),
    Membership.user_id == bindparam("user_id"),
)
_INSERT_UNMUTED = _insert_if(_UNMUTED)
_INSERT_UNMUTED_FOR_MEMBER = _insert_if(_MEMBER, _UNMUTED)


async def add_unmuted(
    session: AsyncSession, notification: Notification, *, member_of: int | None = None
) -> bool:
    """Insert `notification` and give it its id, unless its recipient has muted its type
    or, given `member_of`, is not a member of that workspace (an owner who left sees
    nothing of it). Not added to the session: nothing in a request changes a
    notification it has just created."""
    row: dict[str, Any] = {column: getattr(notification, column) for column in _INSERTED}
    statement = _INSERT_UNMUTED
    if member_of is not None:
        statement = _INSERT_UNMUTED_FOR_MEMBER
        row["workspace_id"] = member_of
    new_id: int | None = (await session.execute(statement, row)).scalar()
    if new_id is None:
        return False
    notification.id = new_id
    return True


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


async def set_muted(session: AsyncSession, user_id: int, kinds: Sequence[str]) -> None:
    """Make `kinds` the user's muted types: the last of concurrent replacements wins whole.

    They queue on the user's row (PostgreSQL; SQLite serializes writers): unserialized, two
    replacements each deleted only the rows they could see and inserted theirs, which left
    the union of both lists, or failed on the primary key. The insert is an upsert, so a
    type that is already muted is kept as it is."""
    lock = select(User.id).where(User.id == user_id).with_for_update(key_share=True)
    await session.execute(lock)
    unwanted = NotificationMute.user_id == user_id, NotificationMute.type.not_in(kinds)
    await session.execute(delete(NotificationMute).where(*unwanted))
    if kinds:
        dialect = session.get_bind().dialect.name
        insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
        rows = [{"user_id": user_id, "type": kind} for kind in kinds]
        await session.execute(insert_(NotificationMute).values(rows).on_conflict_do_nothing())
