"""`Idempotency-Key` on every signed-in POST, PATCH and DELETE: a retried request
with the same key gets the first answer again, and changes nothing.

Implemented once, around every REST operation (`routing.ApiRoute`):

1. `begin`: the key and a fingerprint of the request (method, path, query, body) are
   noted, and the request's database session is told to defer its commit.
2. `check` (from the sign-in dependency, once the user is known): if this user already
   stored an answer under the key, the request stops there and that answer is replayed
   (a different request under the same key is a 422).
3. `finish`: the handler has run and "committed"; its answer is inserted under the key,
   and only then does the transaction really commit, with the change, its events and the
   answer together: a crash cannot keep the change and lose the answer.

A duplicate sent while the first is in flight waits for it and gets its answer: on
SQLite its lookup begins its write transaction, which waits for the first's commit; on
PostgreSQL both run, and the second one's insert of the key waits on the unique index
for the first to commit, then fails: its transaction is rolled back (its change and
events with it) and the first answer is replayed. A duplicate refused by a rule the
first one's change tripped (a member already added) is answered the same way. Only
successful (2xx) answers are stored: a refused request changed nothing, and the same key
may be sent again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request, Response
from sqlalchemy import CursorResult, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from onetask.db import uow
from onetask.db.engine import Database
from onetask.db.models import IdempotencyKey
from onetask.db.types import utcnow
from onetask.errors import InvalidInput, input_error

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEPT_FOR = timedelta(hours=24)  # at least; rows are purged a while after
MAX_KEY_LENGTH = 255
_STATE = "idempotency"
_REPLAYED_HEADERS = ("content-type", "etag", "location")


@dataclass(slots=True)
class Pending:
    key: str
    fingerprint: str
    user_id: int | None = None


class Replay(Exception):
    """The request was answered before: this is that answer."""

    def __init__(self, stored: IdempotencyKey) -> None:
        super().__init__(stored.key)
        self.response = _replayed(stored)


def refused(reason: str) -> InvalidInput:
    detail = f"{HEADER} is not accepted here: {reason}"
    return InvalidInput(detail, errors=[input_error(["header", HEADER], detail, "idempotency")])


async def begin(request: Request, *, refuse: str | None) -> Pending | None:
    """Note the request's key, if it sent one; `refuse` says why this route takes none."""
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    if refuse is not None:
        raise refused(refuse)
    if not 1 <= len(raw) <= MAX_KEY_LENGTH or not raw.isascii() or not raw.isprintable():
        raise refused(f"a key is 1 to {MAX_KEY_LENGTH} printable ASCII characters (a UUID).")
    digest = hashlib.sha256()
    for part in (request.method, request.url.path, request.url.query):
        digest.update(part.encode() + b"\n")
    digest.update(await request.body())
    pending = Pending(raw, digest.hexdigest())
    request.state.idempotency = pending
    request.state.defer_commit = True  # see db.deps
    return pending


async def check(conn: HTTPConnection, session: AsyncSession, user_id: int) -> None:
    """Replay the stored answer to this user's key, if there is one. Read in the
    request's own session: on SQLite its write transaction begins here, so a duplicate
    waits for the first request's commit and finds its answer."""
    pending: Pending | None = conn.scope.get("state", {}).get(_STATE)
    if pending is None:
        return
    pending.user_id = user_id
    stored = await _stored(session, user_id, pending.key)
    if stored is not None:
        _require_same(stored, pending)
        raise Replay(stored)


async def finish(
    request: Request, pending: Pending, response: Response, database: Database
) -> Response:
    """Commit the request's transaction with its answer stored under the key."""
    session: AsyncSession | None = request.scope.get("state", {}).get("db_session")
    if session is None:  # an operation without a database session: store the answer alone
        async with database.session(write=True) as own:
            return await _store(own, pending, response, database)
    return await _store(session, pending, response, database)


async def _store(
    session: AsyncSession, pending: Pending, response: Response, database: Database
) -> Response:
    if pending.user_id is None or not 200 <= response.status_code < 300:
        await uow.commit_deferred(session)
        return response
    headers = {k: v for k, v in response.headers.items() if k in _REPLAYED_HEADERS}
    session.add(
        IdempotencyKey(
            user_id=pending.user_id,
            key=pending.key,
            fingerprint=pending.fingerprint,
            status_code=response.status_code,
            headers=json.dumps(headers),
            body=bytes(response.body),
            created_at=utcnow(),
        )
    )
    try:
        await session.flush()  # before the events: a duplicate records none
    except IntegrityError:
        await uow.rollback(session)
        return await replay_concurrent(pending, database) or response
    await uow.commit_deferred(session)
    return response


async def replay_concurrent(pending: Pending, database: Database) -> Response | None:
    """The answer a concurrent request with the same key committed, if one did."""
    if pending.user_id is None:
        return None
    async with database.session(write=False) as session:
        stored = await _stored(session, pending.user_id, pending.key)
    if stored is None:
        return None
    _require_same(stored, pending)
    return _replayed(stored)


async def purge(session: AsyncSession, now: datetime | None = None) -> int:
    horizon = (now or utcnow()) - KEPT_FOR
    result = await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < horizon)
    )
    assert isinstance(result, CursorResult)
    return result.rowcount


async def _stored(session: AsyncSession, user_id: int, key: str) -> IdempotencyKey | None:
    query = select(IdempotencyKey).where(
        IdempotencyKey.user_id == user_id, IdempotencyKey.key == key
    )
    return (await session.execute(query)).scalar_one_or_none()


def _require_same(stored: IdempotencyKey, pending: Pending) -> None:
    if stored.fingerprint != pending.fingerprint:
        raise refused(
            "this key was used for a different request (method, path or body); "
            "use a new key for each new request."
        )


def _replayed(stored: IdempotencyKey) -> Response:
    headers: dict[str, Any] = json.loads(stored.headers)
    headers[REPLAYED_HEADER] = "true"
    return Response(stored.body, status_code=stored.status_code, headers=headers)
