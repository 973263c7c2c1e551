"""All SQL of tasks."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from onetask.db.models import Task
from onetask.tasks import pagination
from onetask.tasks.schemas import TaskFilters


async def get(session: AsyncSession, task_id: int, *, for_update: bool = False) -> Task | None:
    query = select(Task).where(Task.id == task_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


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
        pattern = "%" + f.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            Task.title.ilike(pattern, escape="\\") | Task.description.ilike(pattern, escape="\\")
        )
    if f.cursor:
        query = query.where(pagination.after_cursor(f.sort, f.cursor))
    query = query.order_by(*pagination.order_by(f.sort)).limit(f.limit + 1)
    return list((await session.execute(query)).scalars())
