"""The integration guide's three WebSocket routes.

Every refusal is accepted first, then one `error` message and a close code from
PRODUCT.md §4, so a browser can tell an auth failure from a network failure.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Receive, Scope, Send

from onetask.auth import repository as users
from onetask.auth.bearer import verify_bearer
from onetask.auth.tokens import InvalidToken
from onetask.config import Settings
from onetask.db.engine import Database
from onetask.db.models import User
from onetask.errors import NotFound
from onetask.events.channels import notifications_channel, workspace_channel
from onetask.events.close_codes import close_reason
from onetask.events.messages import AuthOk, AuthOkData, Pong, encode
from onetask.inputs import id_from_text, is_ascii_number
from onetask.realtime.connection import Connection, error_frame
from onetask.realtime.focus_socket import FocusLive
from onetask.realtime.hub import Hub
from onetask.realtime.transport import frame_writer
from onetask.workspaces import service as workspaces

log = logging.getLogger("onetask.ws")
router = APIRouter()
PONG = encode(Pong())

Handler = Callable[[Connection, dict[str, Any]], Awaitable[None]]
Hook = Callable[[Connection], Awaitable[None]]


class Refused(Exception):
    def __init__(self, code: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.error, self.detail = code, error, detail


@dataclass
class Grant:
    """What an authorized connection may listen to, and what else it may say."""

    channel: str
    workspace_id: int | None
    handlers: dict[str, Handler] = field(default_factory=dict)
    on_open: Hook | None = None
    on_close: Hook | None = None
    visible_after: int = 0  # the channel's events up to this seq are not the user's to see


Authorize = Callable[[AsyncSession, User], Awaitable[Grant]]


@router.websocket("/ws/notifications")
async def notifications_socket(websocket: WebSocket) -> None:
    async def authorize(_: AsyncSession, user: User) -> Grant:
        return Grant(notifications_channel(user.id), None)

    await serve(websocket, authorize)


@router.websocket("/ws/workspaces/{workspace_id}/tasks")
async def workspace_tasks_socket(websocket: WebSocket, workspace_id: str) -> None:
    async def authorize(session: AsyncSession, user: User) -> Grant:
        wid = parse_id(workspace_id, "workspace")
        acc = await workspaces.access(session, wid, user.id)
        return Grant(workspace_channel(wid), wid, visible_after=acc.joined_seq)

    await serve(websocket, authorize)


@router.websocket("/ws/focus-sessions/{session_id}")
async def focus_session_socket(websocket: WebSocket, session_id: str) -> None:
    live: FocusLive = websocket.app.state.focus_live

    async def authorize(session: AsyncSession, user: User) -> Grant:
        joined = await live.admit(session, session_id, user)  # NotFound → 4404
        return Grant(
            joined.room,
            joined.workspace_id,
            handlers=joined.handlers,
            on_open=joined.on_open,
            on_close=joined.on_close,
        )

    await serve(websocket, authorize)


WS_PREFIX = "/api/v1/ws/"
VALID_PATHS = (
    "/api/v1/ws/notifications, /api/v1/ws/workspaces/{workspace_id}/tasks, "
    "/api/v1/ws/focus-sessions/{session_id}"
)


async def unknown_socket(websocket: WebSocket) -> None:
    """Any other path under /api/v1/ws/: accepted, then 4404 with the valid paths, since a
    browser cannot read the status of a refused handshake (it would look like a 403)."""
    await websocket.accept()
    await _refuse(
        websocket, Refused(4404, "not_found", f"No such WebSocket path; use {VALID_PATHS}.")
    )


_DIRECT_ROUTES: list[tuple[re.Pattern[str], Callable[..., Awaitable[None]]]] = [
    (re.compile(r"^/api/v1/ws/notifications$"), notifications_socket),
    (re.compile(r"^/api/v1/ws/workspaces/([^/]+)/tasks$"), workspace_tasks_socket),
    (re.compile(r"^/api/v1/ws/focus-sessions/([^/]+)$"), focus_session_socket),
]


async def serve_directly(app: Any, scope: Scope, receive: Receive, send: Send) -> bool:
    """Serve a WebSocket for one of the three routes, if `scope` is one; see `OneTaskAPI`.

    A live socket parks one coroutine for hours; entered through the framework, that
    coroutine holds the whole call chain (FastAPI's and Starlette's middleware, routing,
    dependency exit stacks) per connection. Entered here it holds only its own frames.
    The routes stay declared on `router` for the documentation and the contract tests.
    """
    route = _direct_route(scope["path"])
    if route is None:
        if not scope["path"].startswith(WS_PREFIX):
            return False
        route = unknown_socket, ()
    endpoint, args = route
    scope["app"] = app  # as Starlette sets it: endpoints read `websocket.app.state`
    await endpoint(WebSocket(scope, receive, send), *args)
    return True


def _direct_route(path: str) -> tuple[Callable[..., Awaitable[None]], tuple[str, ...]] | None:
    """The endpoint and its arguments (not the match, which the socket would keep)."""
    for pattern, endpoint in _DIRECT_ROUTES:
        found = pattern.fullmatch(path)  # `$` alone also matches before a final newline
        if found:
            return endpoint, found.groups()
    return None


def parse_id(raw: str, what: str) -> int:
    found = id_from_text(raw)
    if found is None:
        raise Refused(4404, "not_found", f"No such {what}, or you are not a member of it.")
    return found


async def serve(websocket: WebSocket, authorize: Authorize) -> None:
    hub: Hub = websocket.app.state.hub
    settings: Settings = websocket.app.state.settings
    await websocket.accept()
    try:
        conn, grant, since = await _admit(websocket, settings, hub, authorize)
    except Refused as refused:
        await _refuse(websocket, refused)
        return
    except Exception as exc:  # the database (or Redis) is down: say so, do not just drop
        log.warning("could not admit a socket: %r", exc)
        await _refuse(websocket, Refused(1011, "unavailable", "Try again shortly."))
        return
    database: Database = websocket.app.state.database
    try:
        try:
            await hub.join(conn, since, partial(_confirm, database, conn), grant.visible_after)
        except Refused as refused:
            await _refuse(websocket, refused)
            return
        except (WebSocketDisconnect, OSError):  # the client left while being admitted
            log.debug("a client left while being admitted to %s", conn.channel)
            return
        except Exception:
            log.exception("could not subscribe %s", conn.channel)
            await _refuse(websocket, Refused(1011, "unavailable", "Try again shortly."))
            return
        if grant.on_open is not None and not conn.closing:
            await grant.on_open(conn)
        await _read(websocket, conn, grant, settings)
    finally:
        hub.leave(conn)
        if grant.on_close is not None:
            await grant.on_close(conn)


async def _admit(
    websocket: WebSocket, settings: Settings, hub: Hub, authorize: Authorize
) -> tuple[Connection, Grant, int | None]:
    allowed = settings.origin_allow_list
    origin = websocket.headers.get("origin")
    if allowed is not None and origin is not None and origin not in allowed:
        raise Refused(1008, "origin_not_allowed", f"Origin {origin} is not allowed.")
    token = websocket.query_params.get("token")
    if not token:
        raise Refused(4401, "unauthorized", "Pass an access token as ?token=.")
    database: Database = websocket.app.state.database
    try:
        claims = await verify_bearer(
            token, settings.signing_key, partial(database.session, write=False)
        )
    except InvalidToken as exc:
        raise Refused(4401, "unauthorized", f"Access token rejected: {exc.reason}.") from exc
    since = _parse_since(websocket.query_params.get("since"))
    async with database.session(write=False) as session:
        user = await users.get_user(session, claims.user_id)
        if user is None:
            raise Refused(4401, "unauthorized", "The account no longer exists.")
        try:
            grant = await authorize(session, user)
        except NotFound as exc:
            raise Refused(4404, "not_found", exc.detail) from exc
    if hub.user_connections(user.id) >= settings.ws_max_connections_per_user:
        raise Refused(
            4429,
            "too_many_connections",
            f"At most {settings.ws_max_connections_per_user} connections per user.",
        )
    conn = Connection(
        websocket.send,
        user_id=user.id,
        username=user.username,
        channel=grant.channel,
        workspace_id=grant.workspace_id,
        expires_at=claims.expires_at,
        max_queue=settings.ws_queue_size,
        burst=settings.ws_message_burst,
        transport=frame_writer(websocket.scope),
        metrics=websocket.app.state.metrics,
        token_id=claims.api_token_id,
    )
    return conn, grant, since


async def _confirm(database: Database, conn: Connection) -> None:
    """Refuse a workspace's connection (4403) unless its user is still a member."""
    if conn.workspace_id is None:
        return
    async with database.session(write=False) as session:
        if await workspaces.is_member(session, conn.workspace_id, conn.user_id):
            return
    raise Refused(4403, "access_revoked", "You are no longer a member of this workspace.")


def _parse_since(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not is_ascii_number(raw) or len(raw) > 18:
        raise Refused(4400, "bad_request", "since must be a non-negative integer (a seq).")
    return int(raw)


async def _refuse(websocket: WebSocket, refused: Refused) -> None:
    try:
        await websocket.send_text(error_frame(refused.error, refused.detail))
        await websocket.close(refused.code, close_reason(refused.code))
    except Exception:  # the peer left first
        return


async def _read(websocket: WebSocket, conn: Connection, grant: Grant, settings: Settings) -> None:
    handlers = _handlers(websocket, grant, settings)
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        conn.last_seen = time.monotonic()
        if not conn.take_token(settings.ws_messages_per_second, settings.ws_message_burst):
            conn.close(4429, "rate_limited", "Too many messages; slow down.")
            continue
        raw = message.get("text")
        if raw is None:
            raw = message.get("bytes") or b""
        await _dispatch(conn, raw, handlers)


async def _dispatch(conn: Connection, raw: str | bytes, handlers: dict[str, Handler]) -> None:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        conn.push(0, error_frame("invalid_json", "Messages must be JSON objects."))
        return
    kind = body.get("type") if isinstance(body, dict) else None
    handler = handlers.get(kind) if isinstance(kind, str) else None
    if handler is None:
        known = ", ".join(sorted(handlers))
        conn.push(0, error_frame("unknown_type", f"Unknown message type; expected one of {known}."))
        return
    await handler(conn, body)


async def _ping(conn: Connection, _: dict[str, Any]) -> None:
    conn.push(0, PONG)


def _handlers(websocket: WebSocket, grant: Grant, settings: Settings) -> dict[str, Handler]:
    """The messages any socket may send, built once per app and shared, plus the grant's."""
    state = websocket.app.state
    common: dict[str, Handler] | None = getattr(state, "ws_common_handlers", None)
    if common is None:
        auth = _auth_handler(settings, state.database)
        common = state.ws_common_handlers = {"ping": _ping, "auth": auth}
    return {**common, **grant.handlers} if grant.handlers else common


def _auth_handler(settings: Settings, database: Database) -> Handler:
    async def auth(conn: Connection, body: dict[str, Any]) -> None:
        token = body.get("token")
        if not isinstance(token, str):
            conn.push(0, error_frame("invalid_field", "auth needs a string `token`."))
            return
        try:
            claims = await verify_bearer(
                token, settings.signing_key, partial(database.session, write=False)
            )
        except InvalidToken as exc:
            conn.push(0, error_frame("invalid_token", f"Token rejected: {exc.reason}."))
            return
        if claims.user_id != conn.user_id:
            conn.push(0, error_frame("invalid_token", "The token belongs to another user."))
            return
        # A new token is no new right to the channel: the membership is read again.
        try:
            await _confirm(database, conn)
        except Refused as refused:
            conn.close(refused.code, refused.error, refused.detail, flush=False)
            return
        except Exception as exc:  # the database is down: the old expiry stands
            log.warning("could not re-check access on auth: %r", exc)
            conn.push(0, error_frame("unavailable", "Could not check your access; try again."))
            return
        conn.expires_at = claims.expires_at
        conn.token_id = claims.api_token_id
        expires = datetime.fromtimestamp(claims.expires_at, UTC)
        conn.push(0, encode(AuthOk(data=AuthOkData(expires_at=expires))))

    return auth
