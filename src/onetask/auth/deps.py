"""Annotated dependencies: the settings, the signed-in user.

Dependencies are `async def` even when they do not await: FastAPI runs a plain `def`
dependency on its thread pool, a thread switch per request for a dictionary lookup."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer
from starlette.requests import HTTPConnection

from onetask import idempotency
from onetask.auth import service
from onetask.auth.bearer import record_use, verify_bearer
from onetask.auth.service import LoginLimits, WriteLimit
from onetask.auth.tokens import AccessClaims, InvalidToken
from onetask.config import Settings
from onetask.db.deps import DbSession
from onetask.db.engine import Database
from onetask.db.models import User
from onetask.errors import Forbidden, Unauthorized

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/login", auto_error=False)
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def get_settings(conn: HTTPConnection) -> Settings:
    settings: Settings = conn.app.state.settings
    return settings


async def get_login_limits(conn: HTTPConnection) -> LoginLimits:
    limits: LoginLimits = conn.app.state.login_limits
    return limits


AppSettings = Annotated[Settings, Depends(get_settings)]


async def get_token_claims(
    conn: HTTPConnection, token: Annotated[str | None, Depends(_bearer)], session: DbSession
) -> AccessClaims:
    """Who the bearer token says is signed in, before any database read: a route that
    loads its own rows can load the user in the same statement (see `tasks.deps`)."""
    # The settings straight from the app, not through `AppSettings`: every route runs
    # this, and each dependency is solved again wherever it is named.
    settings: Settings = conn.app.state.settings
    if not token:
        raise Unauthorized("Sign in: send `Authorization: Bearer <access token>`.")
    database: Database = conn.app.state.database
    try:
        claims = await verify_bearer(
            token, settings.signing_key, partial(database.session, write=False)
        )
    except InvalidToken as exc:
        raise Unauthorized(f"Access token rejected: {exc.reason}.") from exc
    record_use(claims, partial(database.session, write=True))
    # Every signed-in write passes here once (FastAPI caches a dependency per request):
    # the one place to check the token's scope, to look for an idempotent request's first
    # answer and to charge the user's write budget.
    if conn.scope["type"] == "http" and conn.scope["method"] in _WRITES:
        if "write" not in claims.scopes:
            raise Forbidden(
                "This API token has only the read scope; writes need a token with the write scope."
            )
        await idempotency.check(conn, session, claims.user_id)
        write_limit: WriteLimit = conn.app.state.write_limit
        await service.charge_write(write_limit, claims.user_id)
    return claims


TokenClaims = Annotated[AccessClaims, Depends(get_token_claims)]


async def get_current_user(session: DbSession, claims: TokenClaims) -> User:
    return await service.signed_in_user(session, claims.user_id)


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_password_claims(claims: TokenClaims) -> AccessClaims:
    if claims.api_token_id is not None:
        raise Forbidden("API tokens cannot manage API tokens; sign in with your password for this.")
    return claims


# Signed in with a password login (a JWT access token), not a personal API token.
PasswordClaims = Annotated[AccessClaims, Depends(get_password_claims)]
LoginLimitsDep = Annotated[LoginLimits, Depends(get_login_limits)]
