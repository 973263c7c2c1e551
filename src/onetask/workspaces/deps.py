from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from onetask.auth.deps import CurrentUser
from onetask.db.deps import DbSession
from onetask.inputs import MAX_ID
from onetask.workspaces import service
from onetask.workspaces.service import Access


async def get_workspace_access(
    workspace_id: Annotated[int, Path(ge=1, le=MAX_ID)], user: CurrentUser, session: DbSession
) -> Access:
    return await service.access(session, workspace_id, user.id)


WorkspaceAccess = Annotated[Access, Depends(get_workspace_access)]
