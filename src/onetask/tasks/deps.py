from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Path, Request

from onetask.auth.deps import CurrentUser
from onetask.db.deps import DbSession
from onetask.db.models import Task, User
from onetask.inputs import MAX_ID
from onetask.tasks import service


@dataclass(frozen=True, slots=True)
class MemberTask:
    """A task, and the signed-in member of its workspace who asked for it.

    One dependency for both: FastAPI solves a dependency's own dependencies again
    wherever it is named, so a route naming `CurrentUser` beside the task paid for
    the user's dependencies twice."""

    task: Task
    user: User


async def get_task(
    task_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    user: CurrentUser,
    session: DbSession,
    request: Request,
) -> MemberTask:
    task = await service.get(session, task_id, user, lock=request.method != "GET")
    return MemberTask(task, user)


TaskInWorkspace = Annotated[MemberTask, Depends(get_task)]
IfMatch = Annotated[
    str | None,
    Header(description='The task\'s ETag (e.g. `"3"`); 412 if the task has changed since'),
]
