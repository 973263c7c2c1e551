from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response, status

from onetask.auth.deps import CurrentUser
from onetask.db import uow
from onetask.db.deps import DbSession
from onetask.db.models import Membership
from onetask.inputs import PathId, or_not_found
from onetask.openapi import problems
from onetask.routing import ApiRoute
from onetask.workspaces import service
from onetask.workspaces.deps import WorkspaceAccess
from onetask.workspaces.schemas import (
    MemberIn,
    MemberOut,
    MemberPatch,
    WorkspaceIn,
    WorkspaceOut,
    WorkspacePatch,
)
from onetask.workspaces.service import Access, MemberNotFound

MemberId = Annotated[PathId, or_not_found(MemberNotFound)]
router = APIRouter(
    prefix="/workspaces",
    tags=["workspaces"],
    responses=problems(401, 422, 503),
    route_class=ApiRoute,
)


def _out(acc: Access) -> WorkspaceOut:
    w = acc.workspace
    return WorkspaceOut(
        id=w.id,
        name=w.name,
        description=w.description,
        owner_id=w.owner_id,
        created_at=w.created_at,
        updated_at=w.updated_at,
        role=acc.role,
    )


def _member_out(m: Membership) -> MemberOut:
    return MemberOut(
        user_id=m.user_id,
        username=m.user.username,
        full_name=m.user.full_name,
        role=m.role,
        joined_at=m.created_at,
    )


@router.get("", response_model=list[WorkspaceOut])
async def list_workspaces(user: CurrentUser, session: DbSession) -> list[WorkspaceOut]:
    return [_out(a) for a in await service.list_mine(session, user)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WorkspaceOut)
async def create_workspace(
    data: WorkspaceIn, user: CurrentUser, session: DbSession
) -> WorkspaceOut:
    acc = await service.create(session, user, data)
    await uow.commit(session)
    return _out(acc)


@router.get("/{workspace_id}", response_model=WorkspaceOut, responses=problems(404))
async def read_workspace(acc: WorkspaceAccess) -> WorkspaceOut:
    return _out(acc)


@router.patch("/{workspace_id}", response_model=WorkspaceOut, responses=problems(403, 404))
async def update_workspace(
    patch: WorkspacePatch, acc: WorkspaceAccess, session: DbSession
) -> WorkspaceOut:
    acc = await service.update(session, acc, patch)
    await uow.commit(session)
    return _out(acc)


@router.delete(
    "/{workspace_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problems(403, 404)
)
async def delete_workspace(acc: WorkspaceAccess, session: DbSession) -> Response:
    await service.delete(session, acc)
    await uow.commit(session)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{workspace_id}/members", response_model=list[MemberOut], responses=problems(404))
async def list_members(acc: WorkspaceAccess, session: DbSession) -> list[MemberOut]:
    return [_member_out(m) for m in await service.members(session, acc)]


@router.post(
    "/{workspace_id}/members",
    status_code=status.HTTP_201_CREATED,
    response_model=MemberOut,
    responses=problems(403, 404, 409),
)
async def add_member(data: MemberIn, acc: WorkspaceAccess, session: DbSession) -> MemberOut:
    member = await service.add_member(session, acc, data)
    await uow.commit(session)
    return _member_out(member)


@router.patch(
    "/{workspace_id}/members/{user_id}",
    response_model=MemberOut,
    responses=problems(403, 404, 409),
)
async def change_role(
    user_id: MemberId, patch: MemberPatch, acc: WorkspaceAccess, session: DbSession
) -> MemberOut:
    member = await service.change_role(session, acc, user_id, patch.role)
    await uow.commit(session)
    return _member_out(member)


@router.delete(
    "/{workspace_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(403, 404, 409),
)
async def remove_member(user_id: MemberId, acc: WorkspaceAccess, session: DbSession) -> Response:
    await service.remove_member(session, acc, user_id)
    await uow.commit(session)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
