"""All SQL of task reminders."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from onetask.db.models import TaskReminder

MAX_PER_TASK = 100


async def add(session: AsyncSession, reminder: TaskReminder) -> TaskReminder:
    session.add(reminder)
    await session.flush()
    return reminder


async def of_task(session: AsyncSession, task_id: int) -> list[TaskReminder]:
    query = select(TaskReminder).where(TaskReminder.task_id == task_id).order_by(TaskReminder.id)
    return list((await session.execute(query)).scalars())


async def count(session: AsyncSession, task_id: int) -> int:
    query = select(func.count()).where(TaskReminder.task_id == task_id)
    return int((await session.execute(query)).scalar_one())


async def get(session: AsyncSession, task_id: int, reminder_id: int) -> TaskReminder | None:
    query = select(TaskReminder).where(
        TaskReminder.id == reminder_id, TaskReminder.task_id == task_id
    )
    return (await session.execute(query)).scalar_one_or_none()


async def remove(session: AsyncSession, reminder: TaskReminder) -> None:
    await session.execute(delete(TaskReminder).where(TaskReminder.id == reminder.id))


async def set_times(
    session: AsyncSession, reminder: TaskReminder, fire_at: datetime | None, fired_at: Any
) -> None:
    if (reminder.fire_at, reminder.fired_at) == (fire_at, fired_at):
        return
    reminder.fire_at, reminder.fired_at = fire_at, fired_at
    await session.flush()


async def due(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """Served by the index on `fire_at`: only pending reminders have one."""
    query = (
        select(TaskReminder.id)
        .where(TaskReminder.fire_at <= now)
        .order_by(TaskReminder.fire_at)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def next_fire_at(session: AsyncSession) -> datetime | None:
    query = select(func.min(TaskReminder.fire_at))
    value: datetime | None = (await session.execute(query)).scalar_one_or_none()
    return value


async def claim(session: AsyncSession, pk: int, now: datetime) -> TaskReminder | None:
    """Mark a due reminder fired; None unless this transaction did (on PostgreSQL a racing
    claim waits for the row lock, then re-checks `fire_at` and matches nothing)."""
    statement = (
        update(TaskReminder)
        .where(TaskReminder.id == pk, TaskReminder.fire_at <= now)
        .values(fire_at=None, fired_at=now)
        .execution_options(synchronize_session=False)
    )
    result: CursorResult[Any] = await session.execute(statement)  # type: ignore[assignment]
    if result.rowcount != 1:
        return None
    return await session.get(TaskReminder, pk, populate_existing=True)


async def unclaim(session: AsyncSession, reminder: TaskReminder) -> None:
    """A claimed reminder whose task turned out closed did not fire: it may be re-armed."""
    await set_times(session, reminder, None, None)
