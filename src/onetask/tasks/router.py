from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from onetask.auth.deps import CurrentUser
from onetask.db import uow
from onetask.db.deps import DbSession, LongReadSession
from onetask.db.models import Task
from onetask.openapi import problems
from onetask.routing import ApiRoute
from onetask.tasks import service
from onetask.tasks.deps import IfMatch, TaskInWorkspace
from onetask.tasks.schemas import TaskFilters, TaskIn, TaskOut, TaskPage, TaskPatch
from onetask.workspaces.deps import WorkspaceAccess

router = APIRouter(tags=["tasks"], responses=problems(401, 404, 422, 503), route_class=ApiRoute)
_ETAG = {"headers": {"ETag": {"description": "The task's version", "schema": {"type": "string"}}}}


def _out(task: Task, response: Response) -> TaskOut:
    response.headers["ETag"] = service.etag(task)
    return TaskOut.model_validate(task)


@router.get("/workspaces/{workspace_id}/tasks", response_model=TaskPage)
async def list_tasks(
    acc: WorkspaceAccess,
    session: DbSession,
    long_read: LongReadSession,
    filters: Annotated[TaskFilters, Query()],
) -> TaskPage:
    # A text search may read much of the workspace: never on the event loop's thread.
    items, cursor = await service.page(long_read if filters.q else session, acc, filters)
    return TaskPage(items=[TaskOut.model_validate(t) for t in items], next_cursor=cursor)


@router.post(
    "/workspaces/{workspace_id}/tasks",
    status_code=status.HTTP_201_CREATED,
    response_model=TaskOut,
    responses={201: _ETAG},
)
async def create_task(
    data: TaskIn, acc: WorkspaceAccess, user: CurrentUser, session: DbSession, response: Response
) -> TaskOut:
    task = await service.create(session, acc, user, data)
    await uow.commit(session)
    return _out(task, response)


@router.get("/tasks/{task_id}", response_model=TaskOut, responses={200: _ETAG})
async def read_task(member_task: TaskInWorkspace, response: Response) -> TaskOut:
    return _out(member_task.task, response)


@router.patch(
    "/tasks/{task_id}", response_model=TaskOut, responses={200: _ETAG, **problems(409, 412)}
)
async def update_task(
    patch: TaskPatch,
    member_task: TaskInWorkspace,
    session: DbSession,
    response: Response,
    if_match: IfMatch = None,
) -> TaskOut:
    await service.update(session, member_task.task, member_task.user, patch, if_match)
    await uow.commit(session)
    return _out(member_task.task, response)


@router.delete("/tasks/{task_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problems(412))
async def delete_task(
    member_task: TaskInWorkspace, session: DbSession, if_match: IfMatch = None
) -> Response:
    await service.delete(session, member_task.task, member_task.user, if_match)
    await uow.commit(session)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/tasks/{task_id}/complete",
    response_model=TaskOut,
    responses={200: _ETAG, **problems(409, 412)},
)
async def complete_task(
    member_task: TaskInWorkspace,
    session: DbSession,
    response: Response,
    if_match: IfMatch = None,
) -> TaskOut:
    await service.complete(session, member_task.task, member_task.user, if_match)
    await uow.commit(session)
    return _out(member_task.task, response)


@router.post(
    "/tasks/{task_id}/restore", response_model=TaskOut, responses={200: _ETAG, **problems(412)}
)
async def restore_task(
    member_task: TaskInWorkspace,
    session: DbSession,
    response: Response,
    if_match: IfMatch = None,
) -> TaskOut:
    await service.restore(session, member_task.task, member_task.user, if_match)
    await uow.commit(session)
    return _out(member_task.task, response)
