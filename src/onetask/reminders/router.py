from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response, status

from onetask.db import uow
from onetask.db.deps import DbSession
from onetask.inputs import PathId, or_not_found
from onetask.openapi import problems
from onetask.reminders import service
from onetask.reminders.schemas import ReminderIn, ReminderList, ReminderOut
from onetask.reminders.service import ReminderNotFound
from onetask.routing import ApiRoute
from onetask.tasks.deps import TaskInWorkspace

router = APIRouter(tags=["tasks"], responses=problems(401, 404, 422, 503), route_class=ApiRoute)


@router.get("/tasks/{task_id}/reminders", response_model=ReminderList)
async def list_reminders(member_task: TaskInWorkspace, session: DbSession) -> ReminderList:
    """Every reminder of the task (any member's), oldest first."""
    reminders = await service.of_task(session, member_task.task)
    return ReminderList(items=[service.out(r) for r in reminders])


@router.post(
    "/tasks/{task_id}/reminders",
    status_code=status.HTTP_201_CREATED,
    response_model=ReminderOut,
    responses=problems(409),
)
async def create_reminder(
    data: ReminderIn, member_task: TaskInWorkspace, session: DbSession
) -> ReminderOut:
    reminder = await service.create(session, member_task.task, member_task.user, data)
    await uow.commit(session)
    return service.out(reminder)


@router.delete(
    "/tasks/{task_id}/reminders/{reminder_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(403),
)
async def delete_reminder(
    reminder_id: Annotated[PathId, or_not_found(ReminderNotFound)],
    member_task: TaskInWorkspace,
    session: DbSession,
) -> Response:
    await service.remove(session, member_task.task, member_task.user, reminder_id)
    await uow.commit(session)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
