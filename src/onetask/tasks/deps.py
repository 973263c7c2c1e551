from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Request

from onetask.auth.deps import CurrentUser
from onetask.db.deps import DbSession
from onetask.db.models import Task
from onetask.inputs import MAX_ID
from onetask.tasks import service


async def get_task(
    task_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    user: CurrentUser,
    session: DbSession,
    request: Request,
) -> Task:
    return await service.get(session, task_id, user, lock=request.method != "GET")


TaskInWorkspace = Annotated[Task, Depends(get_task)]
IfMatch = Annotated[
    str | None,
    Header(description='The task\'s ETag (e.g. `"3"`); 412 if the task has changed since'),
]
