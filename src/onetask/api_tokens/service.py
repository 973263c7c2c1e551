"""Personal API tokens: minted by a password-login session, used as a bearer token.

The secret is `ot_` and 256 random bits; only its SHA-256 is stored, so it is shown
once. A token is looked up on every request (never cached): revoking it ends its REST
access at once, and a control event closes its open sockets (4401) in every process."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from onetask.api_tokens import repository
from onetask.api_tokens.schemas import ApiTokenIn
from onetask.db.models import ApiToken
from onetask.db.types import utcnow
from onetask.errors import InvalidInput, NotFound
from onetask.events import outbox
from onetask.events.channels import CONTROL
from onetask.events.messages import ApiTokenRevoked, ApiTokenRevokedData

PREFIX = "ot_"
LAST_USED_RESOLUTION = timedelta(minutes=1)  # `last_used_at` is written at most this often
MAX_TOKENS_PER_USER = 50


class ApiTokenNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such API token.")


class TokenRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Verified:
    token_id: int
    user_id: int
    scopes: frozenset[str]
    expires_at: datetime | None
    needs_touch: bool  # `last_used_at` is older than its resolution


def is_api_token(bearer: str) -> bool:
    return bearer.startswith(PREFIX)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode(errors="surrogatepass")).hexdigest()


def scope_list(token: ApiToken) -> list[str]:
    return token.scopes.split()


async def create(session: AsyncSession, user_id: int, data: ApiTokenIn) -> tuple[ApiToken, str]:
    now = utcnow()
    if data.expires_at is not None and data.expires_at <= now:
        raise InvalidInput("expires_at must be in the future (or null for no expiry).")
    if len(await repository.for_user(session, user_id)) >= MAX_TOKENS_PER_USER:
        raise InvalidInput(f"At most {MAX_TOKENS_PER_USER} API tokens; revoke one first.")
    scopes = {"read", *data.scopes}  # write implies read
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user_id,
        name=data.name,
        token_hash=digest(secret),
        scopes=" ".join(sorted(scopes)),
        created_at=now,
        expires_at=data.expires_at,
    )
    return await repository.add(session, token), secret


async def list_mine(session: AsyncSession, user_id: int) -> list[ApiToken]:
    return await repository.for_user(session, user_id)


async def revoke(session: AsyncSession, user_id: int, token_id: int) -> None:
    if not await repository.remove(session, user_id, token_id):
        raise ApiTokenNotFound()
    event = ApiTokenRevoked(data=ApiTokenRevokedData(token_id=token_id, user_id=user_id))
    outbox.record(session, CONTROL, event)


async def verify(session: AsyncSession, secret: str) -> Verified:
    token = await repository.by_hash(session, digest(secret))
    if token is None:
        raise TokenRejected("the API token is unknown or revoked")
    now = utcnow()
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenRejected("the API token has expired")
    stale = token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION
    return Verified(
        token.id, token.user_id, frozenset(token.scopes.split()), token.expires_at, stale
    )


async def touch(session: AsyncSession, token_id: int) -> None:
    await repository.touch(session, token_id, utcnow())
