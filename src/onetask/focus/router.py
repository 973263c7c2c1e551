from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from onetask.auth.deps import AppSettings, CurrentUser
from onetask.db import uow
from onetask.db.deps import DbSession
from onetask.db.models import FocusSession
from onetask.focus import service, views
from onetask.focus.schemas import (
    FocusSessionIn,
    FocusSessionList,
    FocusSessionOut,
    InviteIn,
    JoinIn,
    ParticipantPatch,
    SessionFilters,
)
from onetask.openapi import problems
from onetask.routing import ApiRoute

router = APIRouter(
    route_class=ApiRoute,
    prefix="/focus-sessions",
    tags=["focus sessions"],
    responses=problems(401, 404, 422, 503),
)
SessionId = Annotated[str, Path(description="`focus-<n>`", examples=["focus-123"])]


async def get_focus_session(
    session_id: SessionId, user: CurrentUser, session: DbSession, request: Request
) -> FocusSession:
    return await service.visible(session, session_id, user.id, lock=request.method != "GET")


VisibleSession = Annotated[FocusSession, Depends(get_focus_session)]
_CONFLICT = problems(409)
_HOST_ONLY = problems(403, 409)


async def _out(session: AsyncSession, fs: FocusSession) -> FocusSessionOut:
    return (await views.describe(session, [fs]))[0]


@router.get("", response_model=FocusSessionList)
async def list_sessions(
    user: CurrentUser, session: DbSession, filters: Annotated[SessionFilters, Query()]
) -> FocusSessionList:
    found = await service.listing(session, user, filters.workspace_id, filters.status)
    return FocusSessionList(items=await views.describe(session, found))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=FocusSessionOut)
async def create_session(
    data: FocusSessionIn, user: CurrentUser, session: DbSession, settings: AppSettings
) -> FocusSessionOut:
    fs = await service.create(session, user, data, settings.focus_minute_s)
    await uow.commit(session)
    return await _out(session, fs)


@router.get("/{session_id}", response_model=FocusSessionOut)
async def read_session(fs: VisibleSession, session: DbSession) -> FocusSessionOut:
    return await _out(session, fs)


@router.post("/{session_id}/join", response_model=FocusSessionOut, responses=_CONFLICT)
async def join_session(
    fs: VisibleSession, user: CurrentUser, session: DbSession, data: JoinIn | None = None
) -> FocusSessionOut:
    await service.join(session, fs, user, data)
    await uow.commit(session)
    return await _out(session, fs)


@router.post("/{session_id}/leave", response_model=FocusSessionOut, responses=_CONFLICT)
async def leave_session(
    fs: VisibleSession, user: CurrentUser, session: DbSession
) -> FocusSessionOut:
    await service.leave(session, fs, user.id)
    await uow.commit(session)
    return await _out(session, fs)


@router.post("/{session_id}/start", response_model=FocusSessionOut, responses=_HOST_ONLY)
async def start_session(
    fs: VisibleSession, user: CurrentUser, session: DbSession
) -> FocusSessionOut:
    await service.start(session, fs, user)
    await uow.commit(session)
    return await _out(session, fs)


@router.post("/{session_id}/pause", response_model=FocusSessionOut, responses=_HOST_ONLY)
async def pause_session(
    fs: VisibleSession, user: CurrentUser, session: DbSession
) -> FocusSessionOut:
    await service.pause(session, fs, user)
    await uow.commit(session)
    return await _out(session, fs)


@router.post("/{session_id}/resume", response_model=FocusSessionOut, responses=_HOST_ONLY)
async def resume_session(
    fs: VisibleSession, user: CurrentUser, session: DbSession
) -> FocusSessionOut:
    await service.resume(session, fs, user)
    await uow.commit(session)
    return await _out(session, fs)


@router.post("/{session_id}/end", response_model=FocusSessionOut, responses=_HOST_ONLY)
async def end_session(fs: VisibleSession, user: CurrentUser, session: DbSession) -> FocusSessionOut:
    await service.end(session, fs, user)
    await uow.commit(session)
    return await _out(session, fs)


@router.patch("/{session_id}/participants/me", response_model=FocusSessionOut, responses=_CONFLICT)
async def update_me(
    patch: ParticipantPatch, fs: VisibleSession, user: CurrentUser, session: DbSession
) -> FocusSessionOut:
    await service.update_me(session, fs, user, patch)
    await uow.commit(session)
    return await _out(session, fs)


@router.post(
    "/{session_id}/participants",
    response_model=FocusSessionOut,
    responses=_HOST_ONLY,
    summary="Invite a member (host only): adds them and sends a focus_invite notification",
    description="Idempotent: a member already taking part is neither changed nor notified.",
)
async def invite(
    data: InviteIn, fs: VisibleSession, user: CurrentUser, session: DbSession
) -> FocusSessionOut:
    await service.invite(session, fs, user, data.user_id)
    await uow.commit(session)
    return await _out(session, fs)
