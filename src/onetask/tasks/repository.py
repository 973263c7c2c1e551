"""All SQL of tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from onetask.db.models import Base, Membership, Task, User
from onetask.tasks import pagination, search
from onetask.tasks.schemas import TaskFilters

# Every task route runs this, with the signed-in user in the same row (one statement,
# not a user read and then a task read). Composing it costs more than running it, so it
# is built once.
_FOR_MEMBER = (
    select(Task, User)
    .join(
        Membership,
        and_(
            Membership.workspace_id == Task.workspace_id,
            Membership.user_id == bindparam("user_id"),
        ),
    )
    .join(User, User.id == Membership.user_id)
    .where(Task.id == bindparam("task_id"))
)
_FOR_MEMBER_LOCKED = _FOR_MEMBER.with_for_update(of=Task)  # the task row only


async def get_for_member(
    session: AsyncSession, task_id: int, user_id: int, *, for_update: bool = False
) -> tuple[Task, User] | None:
    """The task and the user, if `user_id` is a member of the task's workspace."""
    query = _FOR_MEMBER_LOCKED if for_update else _FOR_MEMBER
    params = {"task_id": task_id, "user_id": user_id}
    row = (await session.execute(query, params)).one_or_none()
    return None if row is None else (row[0], row[1])


_TASKS = Base.metadata.tables[Task.__tablename__]
_UPDATE = update(_TASKS).where(_TASKS.c.id == bindparam("task_id"))


async def save(session: AsyncSession, task: Task, values: dict[str, Any]) -> None:
    """Write `values` to the task's row now, and to the loaded task as its committed state.

    Core rather than the ORM's unit of work, which cost 6 % of a task change to flush one
    changed row. SQLAlchemy compiles (and caches) one UPDATE per set of columns."""
    await session.execute(_UPDATE, {"task_id": task.id, **values})
    for key, value in values.items():
        set_committed_value(task, key, value)


async def add(session: AsyncSession, task: Task) -> Task:
    session.add(task)
    await session.flush()
    return task


async def page(session: AsyncSession, workspace_id: int, f: TaskFilters) -> list[Task]:
    query = select(Task).where(Task.workspace_id == workspace_id)
    if not f.include_deleted:
        query = query.where(Task.deleted_at.is_(None))
    if f.status:
        query = query.where(Task.status == f.status)
    if f.priority:
        query = query.where(Task.priority == f.priority)
    if f.assignee_id is not None:
        query = query.where(Task.assignee_id == f.assignee_id)
    if f.due_before:
        query = query.where(Task.due_date < f.due_before)
    if f.due_after:
        query = query.where(Task.due_date >= f.due_after)
    if f.q:
        query = query.where(search.matches(f.q, session.get_bind().dialect.name))
    if f.cursor:
        query = query.where(pagination.after_cursor(f.sort, f.cursor))
    query = query.order_by(*pagination.order_by(f.sort)).limit(f.limit + 1)
    return list((await session.execute(query)).scalars())


async def successor_of(session: AsyncSession, task_id: int) -> int | None:
    """The id of the occurrence that a recurring task's completion created, if any."""
    query = select(Task.id).where(Task.follows_id == task_id)
    return (await session.execute(query)).scalar_one_or_none()


async def overdue_due(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """Tasks whose overdue notice is due, through the index on `overdue_at`."""
    query = select(Task.id).where(Task.overdue_at <= now).order_by(Task.overdue_at).limit(limit)
    return list((await session.execute(query)).scalars())


async def next_overdue_at(session: AsyncSession) -> datetime | None:
    value: datetime | None = (
        await session.execute(select(func.min(Task.overdue_at)))
    ).scalar_one_or_none()
    return value


async def claim_overdue(session: AsyncSession, task_id: int, now: datetime) -> Task | None:
    """Take the task's overdue notice: exactly one transaction matches the row."""
    statement = (
        update(_TASKS)
        .where(_TASKS.c.id == task_id, _TASKS.c.overdue_at <= now)
        .values(overdue_at=None)
    )
    result: CursorResult[Any] = await session.execute(statement)  # type: ignore[assignment]
    if result.rowcount != 1:
        return None
    return await session.get(Task, task_id, populate_existing=True)
