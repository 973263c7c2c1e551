from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from onetask.auth.deps import CurrentUser
from onetask.db.deps import LongReadSession
from onetask.openapi import problems
from onetask.routing import ApiRoute
from onetask.sync import service
from onetask.sync.schemas import SyncPage, SyncQuery

router = APIRouter(tags=["sync"], responses=problems(401, 422, 503), route_class=ApiRoute)


@router.get("/sync", response_model=SyncPage)
async def sync(
    user: CurrentUser, session: LongReadSession, query: Annotated[SyncQuery, Query()]
) -> SyncPage:
    """Everything that changed in all your workspaces since `cursor`: call with no cursor
    first, then with the one each answer gives, again at once while `has_more`."""
    cursor = service.parse_cursor(query.cursor, user.id)
    return await service.sync(session, cursor, query.limit)
