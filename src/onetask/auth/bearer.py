"""What a bearer token proves, whichever kind it is: a login's JWT access token, or a
personal API token (`ot_…`, looked up in the database on every use)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from onetask.api_tokens import service as api_tokens
from onetask.auth.tokens import AccessClaims, InvalidToken, decode_access_token
from onetask.db import uow

log = logging.getLogger("onetask.auth")
OpenSession = Callable[[], AsyncSession]
_touching: set[asyncio.Task[None]] = set()


async def verify_bearer(token: str, signing_key: str, read_session: OpenSession) -> AccessClaims:
    """The token's claims; raises InvalidToken (with a reason to show) otherwise."""
    if not api_tokens.is_api_token(token):
        return decode_access_token(token, signing_key)
    async with read_session() as session:
        try:
            found = await api_tokens.verify(session, token)
        except api_tokens.TokenRejected as exc:
            raise InvalidToken(exc.reason) from exc
    expires_at = found.expires_at.timestamp() if found.expires_at else float("inf")
    return AccessClaims(found.user_id, expires_at, found.token_id, found.scopes, found.needs_touch)


def record_use(claims: AccessClaims, write_session: OpenSession) -> None:
    """Write the API token's last-use time (at most once a minute), beside the request:
    in its own transaction, which never holds up the request's (on SQLite a process's
    writers share a connection), and whose failure is only logged."""
    if claims.api_token_id is None or not claims.touch:
        return
    task = asyncio.create_task(_touch(claims.api_token_id, write_session))
    _touching.add(task)
    task.add_done_callback(_touching.discard)


async def _touch(token_id: int, write_session: OpenSession) -> None:
    try:
        async with write_session() as session:
            await api_tokens.touch(session, token_id)
            await uow.commit(session)
    except Exception as exc:
        log.warning("could not record an API token's use: %s", type(exc).__name__)
