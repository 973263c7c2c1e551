from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from onetask.auth.deps import TokenClaims
from onetask.db.deps import DbSession
from onetask.db.models import Task, User
from onetask.inputs import PathId, or_not_found
from onetask.tasks import service
from onetask.tasks.service import TaskNotFound


@dataclass(frozen=True, slots=True)
class MemberTask:
    """A task, and the signed-in member of its workspace who asked for it, loaded by one
    statement (and one dependency: FastAPI solves a dependency's own dependencies again
    wherever it is named)."""

    task: Task
    user: User


async def get_task(
    task_id: Annotated[PathId, or_not_found(TaskNotFound)],
    claims: TokenClaims,
    session: DbSession,
    request: Request,
) -> MemberTask:
    task, user = await service.get(session, task_id, claims.user_id, lock=request.method != "GET")
    return MemberTask(task, user)


TaskInWorkspace = Annotated[MemberTask, Depends(get_task)]
IfMatch = Annotated[
    str | None,
    Header(
        description='The task\'s ETag (`"3"`; a bare `3` and the weak `W/"3"` are the same, '
        "`*` matches any version); 412 if the task has changed since"
    ),
]
