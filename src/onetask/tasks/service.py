"""Task rules (PRODUCT.md §2): membership, versions, completion, soft delete.

Every change bumps `version` and records a `task_update` event in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from onetask.auth import service as auth
from onetask.db.models import Task, User
from onetask.db.types import utcnow
from onetask.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from onetask.events import outbox
from onetask.events.channels import workspace_channel
from onetask.events.messages import TaskAction, TaskData, TaskRecurrence, TaskUpdate
from onetask.notifications import service as notifications
from onetask.reminders import service as reminders
from onetask.scheduler import wake_after_commit
from onetask.tasks import pagination, recurrence, repository
from onetask.tasks.schemas import RecurrenceIn, TaskFilters, TaskIn, TaskPatch, recurrence_out
from onetask.workspaces import service as workspaces
from onetask.workspaces.service import Access


class TaskNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such task, or it is in a workspace you are not a member of.")


@dataclass(frozen=True, slots=True)
class TaskChange:
    """What happened to a task, for whoever reacts to it (events, notifications)."""

    task: Task
    action: TaskAction
    actor: User
    previous_assignee_id: int | None
    changed: frozenset[str]


async def create(session: AsyncSession, acc: Access, actor: User, data: TaskIn) -> Task:
    await _require_assignable(session, acc.workspace.id, data.assignee_id)
    now = utcnow()
    task = Task(
        workspace_id=acc.workspace.id,
        user_id=actor.id,
        created_at=now,
        updated_at=now,
        version=1,
        completed_at=now if data.status == "done" else None,
        overdue_at=_overdue_at(data.due_date, data.status, None, now),
        **_repeating(data.recurrence, data.due_date, actor),
        **data.model_dump(exclude={"recurrence"}),
    )
    await repository.add(session, task)
    if task.overdue_at is not None:
        wake_after_commit(session)
    await _emit(session, TaskChange(task, "created", actor, None, frozenset(data.model_fields_set)))
    return task


async def get(
    session: AsyncSession, task_id: int, user_id: int, *, lock: bool = False
) -> tuple[Task, User]:
    """The task and its reader, who must be a member of the task's workspace."""
    found = await repository.get_for_member(session, task_id, user_id, for_update=lock)
    if found is None:
        await auth.signed_in_user(session, user_id)  # 401 first, as on any other route
        raise TaskNotFound()
    return found


async def page(
    session: AsyncSession, acc: Access, filters: TaskFilters
) -> tuple[list[Task], str | None]:
    rows = await repository.page(session, acc.workspace.id, filters)
    if len(rows) <= filters.limit:
        return rows, None
    items = rows[: filters.limit]
    return items, pagination.cursor_after(filters.sort, items[-1])


async def update(
    session: AsyncSession, task: Task, actor: User, patch: TaskPatch, if_match: str | None
) -> Task:
    _check_version(task, if_match)
    _require_live(task)
    changes = patch.model_dump(exclude_unset=True, exclude={"recurrence"})
    for field in ("title", "status", "priority"):
        if field in changes and changes[field] is None:
            raise InvalidInput(f"{field} cannot be null.")
    if "assignee_id" in changes and changes["assignee_id"] != task.assignee_id:
        await _require_assignable(session, task.workspace_id, changes["assignee_id"])
    changes.update(_recurrence_changes(task, patch, actor, changes.get("due_date", task.due_date)))
    changed = {k: v for k, v in changes.items() if getattr(task, k) != v}
    if not changed:
        return task
    previous_assignee = task.assignee_id
    action: TaskAction = "updated"
    values = dict(changed)
    now = utcnow()
    if "status" in changed:
        action = "completed" if changed["status"] == "done" else "updated"
        values["completed_at"] = now if changed["status"] == "done" else None
    if "status" in changed or "due_date" in changed:
        due, state = values.get("due_date", task.due_date), values.get("status", task.status)
        values["overdue_at"] = _overdue_at(due, state, task.deleted_at, now)
    await _apply(session, task, values)
    if "status" in changed or "due_date" in changed:
        await _timed_work_moved(session, task, due_moved="due_date" in changed)
    kinds = frozenset(k if not k.startswith("recurrence_") else "recurrence" for k in changed)
    await _emit(session, TaskChange(task, action, actor, previous_assignee, kinds))
    if action == "completed" and task.recurrence_rule is not None:
        await _next_occurrence(session, task, actor)  # announced after the completion
    return task


async def complete(session: AsyncSession, task: Task, actor: User, if_match: str | None) -> Task:
    return await update(session, task, actor, TaskPatch(status="done"), if_match)


async def delete(session: AsyncSession, task: Task, actor: User, if_match: str | None) -> None:
    _check_version(task, if_match)
    if task.deleted_at is not None:
        return
    now = utcnow()
    await _apply(session, task, {"deleted_at": now, "overdue_at": None}, now)
    await _timed_work_moved(session, task, due_moved=False)
    await _emit(
        session, TaskChange(task, "deleted", actor, task.assignee_id, frozenset({"deleted_at"}))
    )


async def restore(session: AsyncSession, task: Task, actor: User, if_match: str | None) -> Task:
    _check_version(task, if_match)
    if task.deleted_at is None:
        return task
    changes: dict[str, Any] = {
        "deleted_at": None,
        "overdue_at": _overdue_at(task.due_date, task.status, None, utcnow()),
    }
    if task.assignee_id is not None and not await workspaces.is_member(
        session, task.workspace_id, task.assignee_id
    ):
        changes["assignee_id"] = None  # the assignee left the workspace while it was deleted
    await _apply(session, task, changes)
    await _timed_work_moved(session, task, due_moved=False)
    await _emit(
        session, TaskChange(task, "restored", actor, task.assignee_id, frozenset({"deleted_at"}))
    )
    return task


def etag(task: Task) -> str:
    return f'"{task.version}"'


def task_data(task: Task, actor_id: int | None) -> TaskData:
    return TaskData(
        id=task.id,
        title=task.title,
        description=task.description,
        status=task.status,
        priority=task.priority,
        due_date=task.due_date,
        workspace_id=task.workspace_id,
        user_id=task.user_id,
        assignee_id=task.assignee_id,
        version=task.version,
        actor_id=actor_id,
        completed_at=task.completed_at,
        created_at=task.created_at,
        updated_at=task.updated_at,
        deleted_at=task.deleted_at,
        recurrence=recurrence_data(task),
        follows_id=task.follows_id,
    )


def recurrence_data(task: Task) -> TaskRecurrence | None:
    shown = recurrence_out(task)
    return None if shown is None else TaskRecurrence(**shown.model_dump())


def _overdue_at(
    due_date: datetime | None, status: str, deleted_at: datetime | None, now: datetime
) -> datetime | None:
    """When the assignee is to be told the task is overdue: its due date, if that is
    ahead and the task open (a due date set, or a task reopened, in the past is not
    announced as overdue: whoever did it knows)."""
    if due_date is None or due_date <= now or status == "done" or deleted_at is not None:
        return None
    return due_date


def _repeating(
    wanted: RecurrenceIn | None, due_date: datetime | None, actor: User
) -> dict[str, Any]:
    """The recurrence columns for `wanted`, starting at `due_date`."""
    if wanted is None:
        return {"recurrence_rule": None, "recurrence_tz": None, "recurrence_start": None}
    if due_date is None:
        raise InvalidInput("A recurring task needs a due_date: its occurrences follow it.")
    tz = wanted.tz or actor.timezone
    rule = recurrence.validate(wanted.rule, tz, due_date)
    return {"recurrence_rule": rule, "recurrence_tz": tz, "recurrence_start": due_date}


def _recurrence_changes(
    task: Task, patch: TaskPatch, actor: User, due_date: datetime | None
) -> dict[str, Any]:
    if "recurrence" in patch.model_fields_set:
        return _repeating(patch.recurrence, due_date, actor)
    if task.recurrence_rule is not None and due_date is None:
        raise InvalidInput(
            "A recurring task needs a due_date: clear `recurrence` to clear the due date."
        )
    return {}


async def _timed_work_moved(session: AsyncSession, task: Task, *, due_moved: bool) -> None:
    if task.overdue_at is not None:
        wake_after_commit(session)
    await reminders.reschedule(session, task, due_moved=due_moved)


async def _next_occurrence(session: AsyncSession, done: Task, actor: User) -> None:
    """Create the occurrence that follows `done`: once per occurrence, even if it is
    reopened and completed again (`follows_id` is unique: a racing twin cannot commit)."""
    rule, tz, start, due = (
        done.recurrence_rule, done.recurrence_tz, done.recurrence_start, done.due_date
    )  # fmt: skip
    if rule is None or tz is None or start is None or due is None:
        return
    if await repository.successor_of(session, done.id) is not None:
        return
    now = utcnow()
    next_due = recurrence.next_due(rule, tz, start, max(due, now))
    if next_due is None:
        return  # the series is over (COUNT or UNTIL)
    assignee = done.assignee_id
    if assignee is not None and not await workspaces.is_member(
        session, done.workspace_id, assignee
    ):
        assignee = None  # they left the workspace
    following = Task(
        workspace_id=done.workspace_id,
        user_id=done.user_id,
        assignee_id=assignee,
        title=done.title,
        description=done.description,
        status="todo",
        priority=done.priority,
        due_date=next_due,
        completed_at=None,
        created_at=now,
        updated_at=now,
        version=1,
        overdue_at=_overdue_at(next_due, "todo", None, now),
        recurrence_rule=rule,
        recurrence_tz=tz,
        recurrence_start=start,
        follows_id=done.id,
    )
    await repository.add(session, following)
    await reminders.carry_over(session, done, following)
    if following.overdue_at is not None:
        wake_after_commit(session)
    # The same series goes on: its people are not notified again, the workspace sees it.
    message = TaskUpdate(action="created", data=task_data(following, actor.id))
    outbox.record(session, workspace_channel(following.workspace_id), message)


async def _apply(
    session: AsyncSession, task: Task, changes: dict[str, Any], now: Any = None
) -> None:
    values = {**changes, "updated_at": now or utcnow(), "version": task.version + 1}
    await repository.save(session, task, values)


async def _emit(session: AsyncSession, change: TaskChange) -> None:
    message = TaskUpdate(action=change.action, data=task_data(change.task, change.actor.id))
    outbox.record(session, workspace_channel(change.task.workspace_id), message)
    await notifications.on_task_change(session, change)


def _check_version(task: Task, if_match: str | None) -> None:
    if if_match is None:
        return
    versions = if_match_versions(if_match)
    if "*" not in versions and str(task.version) not in versions:
        named = ", ".join(sorted(versions))[:100] or "no version"
        raise PreconditionFailed(
            f"The task is at version {task.version} (ETag {etag(task)}) and If-Match named "
            f"{named}; reload it and apply your change again."
        )


def if_match_versions(if_match: str) -> set[str]:
    """The versions an If-Match header names. `"14"` (the ETag), its weak form `W/"14"`
    and a bare `14` (what a client sends that copied `version` from the body) all name
    version 14: the task has one representation, so weak and strong compare the same."""
    return {tag.strip().removeprefix("W/").strip('"') for tag in if_match.split(",")} - {""}


def _require_live(task: Task) -> None:
    if task.deleted_at is not None:
        raise Conflict("The task is deleted; restore it before changing it.")


async def _require_assignable(
    session: AsyncSession, workspace_id: int, assignee_id: int | None
) -> None:
    if assignee_id is not None and not await workspaces.is_member(
        session, workspace_id, assignee_id
    ):
        raise InvalidInput("assignee_id must be a member of the task's workspace.")
