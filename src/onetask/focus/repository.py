"""All SQL of focus sessions and their participants."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from onetask.db.models import FocusParticipant, FocusSession, Membership, Task, User
from onetask.focus.timer import ENDED


async def get(session: AsyncSession, pk: int, *, for_update: bool = False) -> FocusSession | None:
    """`for_update` locks the session row: every change to a session and its participants
    takes this lock first, so they are serialized per session (SQLite serializes writers)."""
    query = select(FocusSession).where(FocusSession.id == pk)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def add(session: AsyncSession, fs: FocusSession) -> FocusSession:
    session.add(fs)
    await session.flush()
    return fs


async def visible_to(
    session: AsyncSession, user_id: int, workspace_id: int | None, status: str | None
) -> list[FocusSession]:
    query = (
        select(FocusSession)
        .join(Membership, Membership.workspace_id == FocusSession.workspace_id)
        .where(Membership.user_id == user_id)
        .order_by(FocusSession.created_at.desc(), FocusSession.id.desc())
        .limit(200)
    )
    if workspace_id is not None:
        query = query.where(FocusSession.workspace_id == workspace_id)
    if status is not None:
        query = query.where(FocusSession.status == status)
    return list((await session.execute(query)).scalars())


async def participants(session: AsyncSession, pks: Sequence[int]) -> list[FocusParticipant]:
    """Participants with their users, earliest joined first."""
    if not pks:
        return []
    query = (
        select(FocusParticipant)
        .options(joinedload(FocusParticipant.user, innerjoin=True))
        .where(FocusParticipant.session_id.in_(pks))
        .order_by(FocusParticipant.joined_at, FocusParticipant.user_id)
    )
    return list((await session.execute(query)).scalars())


async def lock_open(session: AsyncSession, workspace_id: int) -> list[FocusSession]:
    """The workspace's sessions that are not over, locked in id order (as everything else
    locks one session at a time, this cannot deadlock)."""
    query = (
        select(FocusSession)
        .where(FocusSession.workspace_id == workspace_id, FocusSession.status.not_in(ENDED))
        .order_by(FocusSession.id)
        .with_for_update()
    )
    return list((await session.execute(query)).scalars())


async def taking_part(session: AsyncSession, workspace_id: int, user_id: int) -> list[int]:
    """Ids of the sessions of a workspace that the user takes part in (has not left) and
    that are not over, ascending."""
    query = (
        select(FocusSession.id)
        .join(FocusParticipant, FocusParticipant.session_id == FocusSession.id)
        .where(
            FocusSession.workspace_id == workspace_id,
            FocusSession.status.not_in(ENDED),
            FocusParticipant.user_id == user_id,
            FocusParticipant.status != "left",
        )
        .order_by(FocusSession.id)
    )
    return list((await session.execute(query)).scalars())


async def user(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def claim_transition(session: AsyncSession, fs: FocusSession, values: dict[str, Any]) -> bool:
    """Move a running session on from the phase it was read in, unless someone already did.

    The WHERE clause is the exactly-once guard: of several processes that saw the same due
    phase, the first UPDATE wins and the others match no row (PostgreSQL re-checks the
    condition after waiting on the row lock; SQLite serializes writers)."""
    statement = (
        update(FocusSession)
        .where(
            FocusSession.id == fs.id,
            FocusSession.status == "running",
            FocusSession.phase == fs.phase,
            FocusSession.cycle == fs.cycle,
            FocusSession.phase_ends_at == fs.phase_ends_at,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    result: CursorResult[Any] = await session.execute(statement)  # type: ignore[assignment]
    return result.rowcount == 1


async def due(session: AsyncSession, now: datetime, limit: int = 100) -> list[tuple[int, datetime]]:
    query = (
        select(FocusSession.id, FocusSession.phase_ends_at)
        .where(FocusSession.status == "running", FocusSession.phase_ends_at <= now)
        .order_by(FocusSession.phase_ends_at)
        .limit(limit)
    )
    return [(pk, ends) for pk, ends in (await session.execute(query)).all() if ends is not None]


async def next_boundary(session: AsyncSession) -> datetime | None:
    query = select(func.min(FocusSession.phase_ends_at)).where(FocusSession.status == "running")
    value: datetime | None = (await session.execute(query)).scalar_one_or_none()
    return value


async def task_workspace(session: AsyncSession, task_id: int) -> int | None:
    query = select(Task.workspace_id).where(Task.id == task_id, Task.deleted_at.is_(None))
    return (await session.execute(query)).scalar_one_or_none()


async def completed_tasks(
    session: AsyncSession, workspace_id: int, start: datetime, end: datetime
) -> list[tuple[int, int]]:
    """(task id, who gets the credit: the assignee, else the owner) for tasks completed
    in the window."""
    query = (
        select(Task.id, func.coalesce(Task.assignee_id, Task.user_id))
        .where(
            Task.workspace_id == workspace_id,
            Task.status == "done",
            Task.deleted_at.is_(None),
            Task.completed_at >= start,
            Task.completed_at <= end,
        )
        .order_by(Task.id)
    )
    return [(task_id, owner) for task_id, owner in (await session.execute(query)).all()]
