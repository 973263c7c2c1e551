"""Task reminders: who is reminded of what, when, and what a reminder that fires says.

A reminder fires at `at`, or `before_s` seconds before the task's due date. Its `fire_at`
holds that time while it is pending and is NULL otherwise, so the scheduler finds due
reminders through one index and exactly one process claims each (`repository.claim`).
Whatever changes a task's due date, status or deletion calls `reschedule`:

- completing or deleting a task disarms its reminders; reopening or restoring it re-arms
  those that have not fired and whose moment is still ahead (a moment that passed while
  the task was closed is not announced late);
- moving the due date moves the relative reminders, and re-arms those that had fired.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from onetask.db.models import Task, TaskReminder, User
from onetask.db.types import utcnow
from onetask.errors import Conflict, Forbidden, InvalidInput, NotFound
from onetask.events.messages import iso_utc
from onetask.notifications.service import Draft, deliver
from onetask.reminders import repository
from onetask.reminders.schemas import ReminderIn, ReminderOut, ReminderStatus
from onetask.scheduler import wake_after_commit
from onetask.workspaces import service as workspaces


class ReminderNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such reminder on this task.")


def target(reminder: TaskReminder, due_date: datetime | None) -> datetime | None:
    """When the reminder is meant to fire, pending or not."""
    if reminder.at is not None:
        return reminder.at
    if due_date is None or reminder.before_s is None:
        return None
    return due_date - timedelta(seconds=reminder.before_s)


def is_open(task: Task) -> bool:
    return task.deleted_at is None and task.status != "done"


def status(reminder: TaskReminder) -> ReminderStatus:
    if reminder.fire_at is not None:
        return "pending"
    return "fired" if reminder.fired_at is not None else "inactive"


def out(reminder: TaskReminder) -> ReminderOut:
    return ReminderOut(
        id=reminder.id,
        task_id=reminder.task_id,
        user_id=reminder.user_id,
        created_by_id=reminder.created_by_id,
        at=reminder.at,
        before_s=reminder.before_s,
        fire_at=reminder.fire_at,
        fired_at=reminder.fired_at,
        status=status(reminder),
        created_at=reminder.created_at,
    )


async def of_task(session: AsyncSession, task: Task) -> list[TaskReminder]:
    return await repository.of_task(session, task.id)


async def create(session: AsyncSession, task: Task, actor: User, data: ReminderIn) -> TaskReminder:
    if task.deleted_at is not None:
        raise Conflict("The task is deleted; restore it before adding reminders.")
    recipient = await _recipient(session, task, actor, data.user_id)
    if data.before_s is not None and task.due_date is None:
        raise InvalidInput("before_s counts back from the task's due_date, which is not set.")
    now = utcnow()
    reminder = TaskReminder(
        task_id=task.id,
        user_id=recipient,
        created_by_id=actor.id,
        at=data.at,
        before_s=data.before_s,
        fired_at=None,
        created_at=now,
    )
    when = target(reminder, task.due_date)
    assert when is not None
    if when <= now:
        raise InvalidInput(f"The reminder would fire at {iso_utc(when)}, which has passed.")
    if await repository.count(session, task.id) >= repository.MAX_PER_TASK:
        raise InvalidInput(f"A task has at most {repository.MAX_PER_TASK} reminders.")
    reminder.fire_at = when if is_open(task) else None  # a completed task's: on reopening
    await repository.add(session, reminder)
    if reminder.fire_at is not None:
        wake_after_commit(session)
    return reminder


async def _recipient(session: AsyncSession, task: Task, actor: User, asked: int | None) -> int:
    recipient = asked or task.assignee_id or task.user_id
    if recipient not in (actor.id, task.assignee_id, task.user_id):
        raise InvalidInput("user_id: a reminder is for yourself, the task's assignee or its owner.")
    if not await workspaces.is_member(session, task.workspace_id, recipient):
        raise InvalidInput(
            f"The reminder's recipient (user {recipient}) is not a member of the workspace; "
            "give user_id."
        )
    return recipient


async def remove(session: AsyncSession, task: Task, actor: User, reminder_id: int) -> None:
    reminder = await repository.get(session, task.id, reminder_id)
    if reminder is None:
        raise ReminderNotFound()
    if actor.id not in (reminder.user_id, reminder.created_by_id, task.user_id):
        raise Forbidden(
            "Only the reminder's recipient, whoever set it, or the task's owner can delete it."
        )
    await repository.remove(session, reminder)


async def reschedule(session: AsyncSession, task: Task, *, due_moved: bool) -> None:
    """Bring the task's reminders in line with its due date, status and deletion."""
    now, armed = utcnow(), False
    for reminder in await repository.of_task(session, task.id):
        fired_at = reminder.fired_at
        if due_moved and reminder.before_s is not None:
            fired_at = None
        when = target(reminder, task.due_date)
        pending = fired_at is None and is_open(task) and when is not None and when > now
        await repository.set_times(session, reminder, when if pending else None, fired_at)
        armed |= pending
    if armed:
        wake_after_commit(session)


async def carry_over(session: AsyncSession, done: Task, following: Task) -> None:
    """Copy a completed occurrence's reminders to the next one: relative ones as they
    are, absolute ones moved by as much as the due date moved."""
    assert done.due_date is not None and following.due_date is not None
    shift = following.due_date - done.due_date
    now = utcnow()
    for reminder in await repository.of_task(session, done.id):
        copy = TaskReminder(
            task_id=following.id,
            user_id=reminder.user_id,
            created_by_id=reminder.created_by_id,
            at=None if reminder.at is None else reminder.at + shift,
            before_s=reminder.before_s,
            fire_at=None,
            fired_at=None,
            created_at=now,
        )
        await repository.add(session, copy)
    await reschedule(session, following, due_moved=False)


async def fire(session: AsyncSession, pk: int, now: datetime) -> bool:
    """Claim a due reminder and notify its recipient; False if another process had."""
    reminder = await repository.claim(session, pk, now)
    if reminder is None:
        return False
    task = await session.get(Task, reminder.task_id)
    if task is None or not is_open(task):  # closed in a race with this claim
        await repository.unclaim(session, reminder)
        return True
    if await workspaces.is_member(session, task.workspace_id, reminder.user_id):
        content, about = _content(task, reminder), str(task.id)
        draft = Draft(reminder.user_id, "task_reminder", "Task Reminder", content, "task", about)
        await deliver(session, [draft])
    return True


def _content(task: Task, reminder: TaskReminder) -> str:
    name = f"'{task.title}'"
    if task.due_date is None:
        return f"Reminder: {name}"
    if reminder.before_s is not None:
        return f"{name} is due {_in(reminder.before_s)} ({iso_utc(task.due_date)})"
    return f"Reminder: {name} is due {iso_utc(task.due_date)}"


def _in(seconds: int) -> str:
    if seconds == 0:
        return "now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"in {count} {unit}{'s' if count > 1 else ''}"
    return f"in {seconds} seconds" if seconds > 1 else "in 1 second"


class ReminderWork:
    """Reminders as a kind of the one scheduler (onetask/scheduler.py)."""

    name = "reminders"

    async def due(self, session: AsyncSession, now: datetime, limit: int) -> list[int]:
        return await repository.due(session, now, limit)

    async def run(self, session: AsyncSession, pk: int, now: datetime) -> bool:
        return await fire(session, pk, now)

    async def next_at(self, session: AsyncSession) -> datetime | None:
        return await repository.next_fire_at(session)
