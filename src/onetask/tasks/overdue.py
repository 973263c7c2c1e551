"""Overdue notices, as a kind of the one scheduler (onetask/scheduler.py).

A task's `overdue_at` is its due date while it is open and its notice is still to come
(`service._overdue_at`); the process that claims it tells the assignee (or, on a task
nobody is assigned, its owner) once, with a `task_overdue` notification.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from onetask.events.messages import iso_utc
from onetask.notifications.service import Draft, deliver
from onetask.tasks import repository
from onetask.workspaces import service as workspaces


async def notify(session: AsyncSession, task_id: int, now: datetime) -> bool:
    task = await repository.claim_overdue(session, task_id, now)
    if task is None:
        return False
    recipient = task.assignee_id or task.user_id
    if task.status == "done" or task.deleted_at is not None or task.due_date is None:
        return True  # closed in a race with the claim: nothing is overdue
    if await workspaces.is_member(session, task.workspace_id, recipient):
        content = f"'{task.title}' is overdue: it was due {iso_utc(task.due_date)}"
        draft = Draft(recipient, "task_overdue", "Task Overdue", content, "task", str(task.id))
        await deliver(session, [draft])
    return True


class OverdueTasks:
    name = "overdue tasks"

    async def due(self, session: AsyncSession, now: datetime, limit: int) -> list[int]:
        return await repository.overdue_due(session, now, limit)

    async def run(self, session: AsyncSession, pk: int, now: datetime) -> bool:
        return await notify(session, pk, now)

    async def next_at(self, session: AsyncSession) -> datetime | None:
        return await repository.next_overdue_at(session)
