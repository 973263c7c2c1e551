from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from onetask.auth.deps import CurrentUser
from onetask.db.deps import DbSession
from onetask.inputs import PathId, or_not_found
from onetask.workspaces import service
from onetask.workspaces.service import Access, WorkspaceNotFound

WorkspaceId = Annotated[PathId, or_not_found(WorkspaceNotFound)]


async def get_workspace_access(
    workspace_id: WorkspaceId, user: CurrentUser, session: DbSession
) -> Access:
    return await service.access(session, workspace_id, user.id)


WorkspaceAccess = Annotated[Access, Depends(get_workspace_access)]
