"""The kinds of entity `GET /sync` reports: one entry each, in `KINDS`.

A kind says which events of a workspace channel name its entities (`ids_in`), how to
load the current rows of those entities (`load`; an id it does not return is deleted,
a tombstone) and how to list all of a workspace's live ones for a snapshot (`snapshot`,
by ascending id). A new kind of entity (labels, comments…) plugs in by adding an entry;
events of types no kind claims are skipped."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from onetask.db.models import Membership, Task, Workspace
from onetask.tasks.schemas import TaskOut
from onetask.workspaces.service import member_summary, workspace_summary

Payload = dict[str, Any]
# (session, workspace_id, ids) → {id: current row} for the ids still live
Load = Callable[[AsyncSession, int, list[int]], Awaitable[dict[int, Payload]]]
# (session, workspace_id, after_id, limit) → [(id, row)] by ascending id
Snapshot = Callable[[AsyncSession, int, int, int], Awaitable[list[tuple[int, Payload]]]]


@dataclass(frozen=True, slots=True)
class EntityKind:
    name: str
    ids_in: Callable[[dict[str, Any]], list[int]]  # from one decoded event message
    load: Load
    snapshot: Snapshot


def _ids_of(message_type: str, *path: str) -> Callable[[dict[str, Any]], list[int]]:
    """The id at `data.<path>` of every event of `message_type`."""

    def ids_in(message: dict[str, Any]) -> list[int]:
        if message.get("type") != message_type:
            return []
        value: Any = message.get("data")
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return [value] if isinstance(value, int) else []

    return ids_in


# -- tasks -------------------------------------------------------------------------------


def _task(task: Task) -> Payload:
    return TaskOut.model_validate(task).model_dump(mode="json")


async def _load_tasks(
    session: AsyncSession, workspace_id: int, ids: list[int]
) -> dict[int, Payload]:
    query = select(Task).where(
        Task.workspace_id == workspace_id, Task.id.in_(ids), Task.deleted_at.is_(None)
    )
    return {t.id: _task(t) for t in (await session.execute(query)).scalars()}


async def _task_snapshot(
    session: AsyncSession, workspace_id: int, after: int, limit: int
) -> list[tuple[int, Payload]]:
    query = (
        select(Task)
        .where(Task.workspace_id == workspace_id, Task.deleted_at.is_(None), Task.id > after)
        .order_by(Task.id)
        .limit(limit)
    )
    return [(t.id, _task(t)) for t in (await session.execute(query)).scalars()]


# -- workspaces and members ------------------------------------------------------------


async def _load_workspace(
    session: AsyncSession, workspace_id: int, ids: list[int]
) -> dict[int, Payload]:
    workspace = await session.get(Workspace, workspace_id)
    if workspace is None or workspace_id not in ids:
        return {}
    return {workspace.id: workspace_summary(workspace).model_dump(mode="json")}


async def _workspace_snapshot(
    session: AsyncSession, workspace_id: int, after: int, limit: int
) -> list[tuple[int, Payload]]:
    if after >= workspace_id:
        return []
    return list((await _load_workspace(session, workspace_id, [workspace_id])).items())


def _members_query(workspace_id: int) -> Any:
    return (
        select(Membership)
        .options(joinedload(Membership.user))
        .where(Membership.workspace_id == workspace_id)
    )


async def _load_members(
    session: AsyncSession, workspace_id: int, ids: list[int]
) -> dict[int, Payload]:
    query = _members_query(workspace_id).where(Membership.user_id.in_(ids))
    return {
        m.user_id: member_summary(m).model_dump(mode="json")
        for m in (await session.execute(query)).scalars()
    }


async def _member_snapshot(
    session: AsyncSession, workspace_id: int, after: int, limit: int
) -> list[tuple[int, Payload]]:
    query = (
        _members_query(workspace_id)
        .where(Membership.user_id > after)
        .order_by(Membership.user_id)
        .limit(limit)
    )
    return [
        (m.user_id, member_summary(m).model_dump(mode="json"))
        for m in (await session.execute(query)).scalars()
    ]


def _workspace_ids(message: dict[str, Any]) -> list[int]:
    return _ids_of("workspace_update", "workspace", "id")(message)


KINDS: list[EntityKind] = [
    EntityKind("workspace", _workspace_ids, _load_workspace, _workspace_snapshot),
    EntityKind(
        "member", _ids_of("workspace_update", "member", "user_id"), _load_members, _member_snapshot
    ),
    EntityKind("task", _ids_of("task_update", "id"), _load_tasks, _task_snapshot),
]
