from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from onetask.auth import service
from onetask.auth.deps import AppSettings, CurrentUser, LoginLimitsDep
from onetask.auth.schemas import RefreshIn, RegisterIn, TokenPair, UserOut, UserPatch
from onetask.db import uow
from onetask.db.deps import DbSession
from onetask.openapi import problems
from onetask.routing import ApiRoute

router = APIRouter(prefix="/auth", tags=["auth"], responses=problems(503), route_class=ApiRoute)
users = APIRouter(
    prefix="/users", tags=["users"], responses=problems(401, 422, 503), route_class=ApiRoute
)


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses=problems(409, 422),
)
async def register(data: RegisterIn, session: DbSession) -> UserOut:
    user = await service.register(session, data)
    await uow.commit(session)
    return UserOut.model_validate(user)


@router.post("/login", response_model=TokenPair, responses=problems(401, 422, 429))
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    session: DbSession,
    settings: AppSettings,
    limits: LoginLimitsDep,
) -> TokenPair:
    address = request.client.host if request.client else "unknown"
    pair = await service.login(
        session, settings, limits, login=form.username, password=form.password, address=address
    )
    await uow.commit(session)
    return pair


@router.post("/refresh", response_model=TokenPair, responses=problems(401, 422))
async def refresh(data: RefreshIn, session: DbSession, settings: AppSettings) -> TokenPair:
    try:
        pair = await service.refresh(session, settings, data.refresh_token)
    except service.RefreshTokenReused:
        await uow.commit(session)  # keep the family's revocation
        raise
    await uow.commit(session)
    return pair


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=problems(422))
async def logout(data: RefreshIn, session: DbSession) -> Response:
    await service.logout(session, data.refresh_token)
    await uow.commit(session)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@users.get("/me", response_model=UserOut)
async def read_me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)


@users.patch("/me", response_model=UserOut, responses=problems(422))
async def update_me(patch: UserPatch, user: CurrentUser, session: DbSession) -> UserOut:
    updated = await service.update_profile(session, user, patch)
    await uow.commit(session)
    return UserOut.model_validate(updated)
