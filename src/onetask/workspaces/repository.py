"""All SQL of workspaces and memberships."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from onetask.db.models import Membership, User, Workspace


async def add(session: AsyncSession, workspace: Workspace, owner_id: int) -> Workspace:
    session.add(workspace)
    await session.flush()
    session.add(Membership(workspace_id=workspace.id, user_id=owner_id, role="owner"))
    await session.flush()
    return workspace


async def for_user(session: AsyncSession, user_id: int) -> list[tuple[Workspace, str]]:
    query = (
        select(Workspace, Membership.role)
        .join(Membership, Membership.workspace_id == Workspace.id)
        .where(Membership.user_id == user_id)
        .order_by(Workspace.id)
    )
    return [(w, role) for w, role in (await session.execute(query)).all()]


async def membership(
    session: AsyncSession, workspace_id: int, user_id: int
) -> tuple[Workspace, str, int] | None:
    """The workspace, the user's role in it and the seq their membership began at."""
    query = (
        select(Workspace, Membership.role, Membership.joined_seq)
        .join(Membership, Membership.workspace_id == Workspace.id)
        .where(Workspace.id == workspace_id, Membership.user_id == user_id)
    )
    row = (await session.execute(query)).first()
    return (row[0], row[1], row[2]) if row else None


async def role_of(session: AsyncSession, workspace_id: int, user_id: int) -> str | None:
    query = select(Membership.role).where(
        Membership.workspace_id == workspace_id, Membership.user_id == user_id
    )
    return (await session.execute(query)).scalar_one_or_none()


async def members(session: AsyncSession, workspace_id: int) -> list[Membership]:
    query = (
        select(Membership)
        .options(joinedload(Membership.user))
        .where(Membership.workspace_id == workspace_id)
        .order_by(Membership.created_at, Membership.user_id)
    )
    return list((await session.execute(query)).scalars())


async def get_member(session: AsyncSession, workspace_id: int, user_id: int) -> Membership | None:
    query = (
        select(Membership)
        .options(joinedload(Membership.user))
        .where(Membership.workspace_id == workspace_id, Membership.user_id == user_id)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def add_member(session: AsyncSession, membership: Membership) -> bool:
    """False when a concurrent request added the same member first."""
    session.add(membership)
    try:
        await session.flush()
    except IntegrityError:
        return False
    return True


async def remove_member(session: AsyncSession, workspace_id: int, user_id: int) -> None:
    await session.execute(
        delete(Membership).where(
            Membership.workspace_id == workspace_id, Membership.user_id == user_id
        )
    )


async def lock_owners(session: AsyncSession, workspace_id: int) -> list[int]:
    """Owner ids, longest-standing first, locked so that two owners stepping down at
    once cannot both see the other one stay (PostgreSQL re-checks the rows after
    waiting; SQLite serializes writers anyway)."""
    query = (
        select(Membership.user_id)
        .where(Membership.workspace_id == workspace_id, Membership.role == "owner")
        .order_by(Membership.created_at, Membership.user_id)
        .with_for_update()
    )
    return list((await session.execute(query)).scalars())


async def find_user(
    session: AsyncSession, *, username: str | None, email: str | None
) -> User | None:
    condition = (
        func.lower(User.username) == username.lower()
        if username
        else User.email == (email or "").strip().lower()
    )
    return (await session.execute(select(User).where(condition))).scalar_one_or_none()


async def delete_workspace(session: AsyncSession, workspace: Workspace) -> None:
    await session.delete(workspace)
    await session.flush()
