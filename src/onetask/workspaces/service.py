"""Workspace and membership rules (PRODUCT.md §2)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from onetask.db.models import Membership, User, Workspace
from onetask.errors import Conflict, Forbidden, InvalidInput, NotFound
from onetask.events import outbox
from onetask.events.channels import CONTROL, workspace_channel
from onetask.events.messages import (
    AccessChangeData,
    AccessRevoked,
    MemberSummary,
    WorkspaceAction,
    WorkspaceDeleted,
    WorkspaceSummary,
    WorkspaceUpdate,
    WorkspaceUpdateData,
)
from onetask.workspaces import repository
from onetask.workspaces.schemas import MemberIn, Role, WorkspaceIn, WorkspacePatch

RANK = {"member": 0, "admin": 1, "owner": 2}

# (session, workspace_id, user_id), in the transaction that ends a membership.
MemberGone = Callable[[AsyncSession, int, int], Awaitable[None]]
_when_member_gone: dict[str, MemberGone] = {}


def when_member_gone(name: str, reaction: MemberGone) -> None:
    """Have `reaction` run whenever someone stops being a member (removed, or left).

    The domains built on workspaces register here (focus: leave the workspace's
    sessions) rather than being called by name: they import this module, so importing
    them back would be a cycle, and workspaces need not know who depends on them."""
    _when_member_gone[name] = reaction


class WorkspaceNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such workspace, or you are not a member of it.")


class MemberNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such member in this workspace.")


@dataclass(frozen=True, slots=True)
class Access:
    """The caller's standing in one workspace."""

    workspace: Workspace
    user_id: int
    role: str
    joined_seq: int = 0  # the workspace channel's seq when the membership began

    @property
    def is_admin(self) -> bool:
        return RANK[self.role] >= RANK["admin"]

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"


async def access(session: AsyncSession, workspace_id: int, user_id: int) -> Access:
    found = await repository.membership(session, workspace_id, user_id)
    if found is None:
        raise WorkspaceNotFound()
    return Access(found[0], user_id, found[1], found[2])


async def is_member(session: AsyncSession, workspace_id: int, user_id: int) -> bool:
    return await repository.role_of(session, workspace_id, user_id) is not None


async def create(session: AsyncSession, user: User, data: WorkspaceIn) -> Access:
    workspace = Workspace(name=data.name, description=data.description, owner_id=user.id)
    await repository.add(session, workspace, user.id)
    return Access(workspace, user.id, "owner")


async def list_mine(session: AsyncSession, user: User) -> list[Access]:
    return [Access(w, user.id, role) for w, role in await repository.for_user(session, user.id)]


async def update(session: AsyncSession, acc: Access, patch: WorkspacePatch) -> Access:
    _require_admin(acc, "rename or describe the workspace")
    changes = patch.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        raise InvalidInput("name cannot be null.")
    for field, value in changes.items():
        setattr(acc.workspace, field, value)
    await session.flush()
    _emit(session, acc, "updated")
    return acc


async def delete(session: AsyncSession, acc: Access) -> None:
    if not acc.is_owner:
        raise Forbidden("Only an owner can delete the workspace.")
    await repository.delete_workspace(session, acc.workspace)
    event = WorkspaceDeleted(data=AccessChangeData(workspace_id=acc.workspace.id))
    outbox.record(session, CONTROL, event)


async def members(session: AsyncSession, acc: Access) -> list[Membership]:
    return await repository.members(session, acc.workspace.id)


async def add_member(session: AsyncSession, acc: Access, data: MemberIn) -> Membership:
    _require_admin(acc, "add members")
    _require_may_grant(acc, data.role)
    user = await repository.find_user(session, username=data.username, email=data.email)
    if user is None:
        raise NotFound("No user with that username or email.")
    if await repository.role_of(session, acc.workspace.id, user.id) is not None:
        raise Conflict("That user is already a member.")
    # What the workspace's channel carried before now is not the new member's to replay.
    joined_seq = await outbox.last_seq(session, workspace_channel(acc.workspace.id))
    membership = Membership(
        workspace_id=acc.workspace.id, user_id=user.id, role=data.role, joined_seq=joined_seq
    )
    if not await repository.add_member(session, membership):
        raise Conflict("That user is already a member.")
    found = await repository.get_member(session, acc.workspace.id, user.id)
    assert found is not None
    _emit(session, acc, "member_added", found)
    return found


async def change_role(session: AsyncSession, acc: Access, user_id: int, role: Role) -> Membership:
    _require_admin(acc, "change roles")
    member = await repository.get_member(session, acc.workspace.id, user_id)
    if member is None:
        raise MemberNotFound()
    _require_may_grant(acc, member.role)
    _require_may_grant(acc, role)
    if member.role == "owner" and role != "owner":
        await _keep_an_owner(session, acc.workspace, leaving_id=user_id)
    member.role = role
    await session.flush()
    _emit(session, acc, "member_role_changed", member)
    return member


async def remove_member(session: AsyncSession, acc: Access, user_id: int) -> None:
    member = await repository.get_member(session, acc.workspace.id, user_id)
    if member is None:
        raise MemberNotFound()
    if user_id != acc.user_id:
        _require_admin(acc, "remove other members")
        _require_may_grant(acc, member.role)
    if member.role == "owner":
        await _keep_an_owner(session, acc.workspace, leaving_id=user_id)
    await repository.remove_member(session, acc.workspace.id, user_id)
    _emit(session, acc, "member_removed", member)
    event = AccessRevoked(data=AccessChangeData(workspace_id=acc.workspace.id, user_id=user_id))
    outbox.record(session, CONTROL, event)
    for reaction in _when_member_gone.values():
        await reaction(session, acc.workspace.id, user_id)


def workspace_summary(workspace: Workspace) -> WorkspaceSummary:
    return WorkspaceSummary(
        id=workspace.id,
        name=workspace.name,
        description=workspace.description,
        owner_id=workspace.owner_id,
        created_at=workspace.created_at,
        updated_at=workspace.updated_at,
    )


def member_summary(member: Membership) -> MemberSummary:
    return MemberSummary(
        user_id=member.user_id,
        username=member.user.username,
        full_name=member.user.full_name,
        role=member.role,
        joined_at=member.created_at,
    )


def _emit(
    session: AsyncSession, acc: Access, action: WorkspaceAction, member: Membership | None = None
) -> None:
    """Workspace and membership changes are events of the workspace's channel, live to
    its members and the record `GET /sync` reads."""
    data = WorkspaceUpdateData(
        workspace=workspace_summary(acc.workspace),
        member=member_summary(member) if member is not None else None,
        actor_id=acc.user_id,
    )
    message = WorkspaceUpdate(action=action, data=data)
    outbox.record(session, workspace_channel(acc.workspace.id), message)


def _require_admin(acc: Access, action: str) -> None:
    if not acc.is_admin:
        raise Forbidden(f"Only an owner or admin can {action}.")


def _require_may_grant(acc: Access, role: str) -> None:
    if role == "owner" and not acc.is_owner:
        raise Forbidden("Only an owner can grant, change or remove the owner role.")


async def _keep_an_owner(session: AsyncSession, workspace: Workspace, *, leaving_id: int) -> None:
    """Refuse to lose the last owner; hand `owner_id` on if its holder stops owning."""
    others = [o for o in await repository.lock_owners(session, workspace.id) if o != leaving_id]
    if not others:
        raise Conflict("The last owner cannot leave or be demoted; make another owner first.")
    if workspace.owner_id == leaving_id:
        workspace.owner_id = others[0]
