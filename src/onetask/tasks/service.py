"""Task rules (PRODUCT.md §2): membership, versions, completion, soft delete.

Every change bumps `version` and records a `task_update` event in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from onetask.auth import service as auth
from onetask.db.models import Task, User
from onetask.db.types import utcnow
from onetask.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from onetask.events import outbox
from onetask.events.channels import workspace_channel
from onetask.events.messages import TaskAction, TaskData, TaskUpdate
from onetask.notifications import service as notifications
from onetask.tasks import pagination, repository
from onetask.tasks.schemas import TaskFilters, TaskIn, TaskPatch
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
        **data.model_dump(),
    )
    await repository.add(session, task)
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
    changes = patch.model_dump(exclude_unset=True)
    for field in ("title", "status", "priority"):
        if field in changes and changes[field] is None:
            raise InvalidInput(f"{field} cannot be null.")
    if "assignee_id" in changes and changes["assignee_id"] != task.assignee_id:
        await _require_assignable(session, task.workspace_id, changes["assignee_id"])
    changed = {k: v for k, v in changes.items() if getattr(task, k) != v}
    if not changed:
        return task
    previous_assignee = task.assignee_id
    action: TaskAction = "updated"
    values = dict(changed)
    if "status" in changed:
        action = "completed" if changed["status"] == "done" else "updated"
        values["completed_at"] = utcnow() if changed["status"] == "done" else None
    await _apply(session, task, values)
    await _emit(session, TaskChange(task, action, actor, previous_assignee, frozenset(changed)))
    return task


async def complete(session: AsyncSession, task: Task, actor: User, if_match: str | None) -> Task:
    return await update(session, task, actor, TaskPatch(status="done"), if_match)


async def delete(session: AsyncSession, task: Task, actor: User, if_match: str | None) -> None:
    _check_version(task, if_match)
    if task.deleted_at is not None:
        return
    now = utcnow()
    await _apply(session, task, {"deleted_at": now}, now)
    await _emit(
        session, TaskChange(task, "deleted", actor, task.assignee_id, frozenset({"deleted_at"}))
    )


async def restore(session: AsyncSession, task: Task, actor: User, if_match: str | None) -> Task:
    _check_version(task, if_match)
    if task.deleted_at is None:
        return task
    changes: dict[str, Any] = {"deleted_at": None}
    if task.assignee_id is not None and not await workspaces.is_member(
        session, task.workspace_id, task.assignee_id
    ):
        changes["assignee_id"] = None  # the assignee left the workspace while it was deleted
    await _apply(session, task, changes)
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
    )


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
