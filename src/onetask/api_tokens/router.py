from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response, status

from onetask.api_tokens import service
from onetask.api_tokens.schemas import ApiTokenCreated, ApiTokenIn, ApiTokenOut
from onetask.auth.deps import PasswordClaims
from onetask.db import uow
from onetask.db.deps import DbSession
from onetask.db.models import ApiToken
from onetask.inputs import PathId, or_not_found
from onetask.openapi import problems
from onetask.routing import NO_IDEMPOTENCY, ApiRoute

TokenId = Annotated[PathId, or_not_found(service.ApiTokenNotFound)]
router = APIRouter(
    prefix="/tokens",
    tags=["api tokens"],
    responses=problems(401, 403, 422, 503),
    route_class=ApiRoute,
)


def _out(token: ApiToken) -> ApiTokenOut:
    return ApiTokenOut(
        id=token.id,
        name=token.name,
        scopes=service.scope_list(token),
        created_at=token.created_at,
        expires_at=token.expires_at,
        last_used_at=token.last_used_at,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiTokenCreated,
    openapi_extra={NO_IDEMPOTENCY: "the answer holds the token's secret, which is never stored."},
)
async def create_token(
    data: ApiTokenIn, claims: PasswordClaims, session: DbSession
) -> ApiTokenCreated:
    token, secret = await service.create(session, claims.user_id, data)
    await uow.commit(session)
    return ApiTokenCreated(**_out(token).model_dump(), token=secret)


@router.get("", response_model=list[ApiTokenOut])
async def list_tokens(claims: PasswordClaims, session: DbSession) -> list[ApiTokenOut]:
    return [_out(t) for t in await service.list_mine(session, claims.user_id)]


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problems(404))
async def revoke_token(token_id: TokenId, claims: PasswordClaims, session: DbSession) -> Response:
    await service.revoke(session, claims.user_id, token_id)
    await uow.commit(session)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
