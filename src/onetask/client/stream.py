"""The WebSocket half of the client: one channel, resumed across reconnects.

A `Subscription` yields every message as a dict. It remembers the last `seq` it
saw and reconnects with `since=<seq>` after a close the server marks as
transient (PRODUCT.md §4 close codes), so a consumer sees each event once, in
order, across server restarts.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from onetask.client.api import ClientError, OneTaskClient, Unreachable
from onetask.events.close_codes import CloseCode, describe

EndpointKind = Literal["notifications", "tasks", "focus"]
ENDPOINT_KINDS: tuple[EndpointKind, ...] = ("notifications", "tasks", "focus")


@dataclass(frozen=True)
class Endpoint:
    kind: EndpointKind
    workspace_id: int | None = None
    session_id: str | None = None

    @property
    def path(self) -> str:
        if self.kind == "notifications":
            return "/api/v1/ws/notifications"
        if self.kind == "tasks":
            if self.workspace_id is None:
                raise ValueError("the tasks endpoint needs a workspace id")
            return f"/api/v1/ws/workspaces/{self.workspace_id}/tasks"
        if not self.session_id:
            raise ValueError("the focus endpoint needs a session id (focus-N)")
        return f"/api/v1/ws/focus-sessions/{quote(self.session_id, safe='')}"


class HandshakeRejected(ClientError):
    """The server refused the WebSocket upgrade itself (no such route, proxy error)."""


class ServerClosed(ClientError):
    """The server closed the connection with a code that means: do not (or cannot) go on."""

    def __init__(self, close: CloseCode, detail: str | None) -> None:
        said = f": {detail.rstrip('.')}" if detail else ""
        super().__init__(
            f"The server closed the connection with {close.code} ({close.meaning}){said}. "
            f"What to do: {close.advice}."
        )
        self.close = close
        self.detail = detail


@dataclass
class Backoff:
    """Exponential delays with full jitter, reset by every successful connection."""

    initial_s: float = 0.5
    maximum_s: float = 30.0
    factor: float = 2.0
    rate_limited_s: float = 5.0
    attempt: int = field(default=0, init=False)

    def next_delay(self, close: CloseCode) -> float:
        ceiling = min(self.maximum_s, self.initial_s * self.factor**self.attempt)
        self.attempt += 1
        floor = self.rate_limited_s if close.action == "backoff" else ceiling / 2
        return max(floor, random.uniform(ceiling / 2, ceiling))

    def reset(self) -> None:
        self.attempt = 0


Notice = Callable[[str], None]


def _ignore(_: str) -> None:
    return None


class Subscription:
    """`async for message in subscription:` — ends after close 1000, raises ServerClosed
    on a close that forbids going on (or any close, without `reconnect`)."""

    def __init__(
        self,
        client: OneTaskClient,
        endpoint: Endpoint,
        *,
        since: int | None = None,
        reconnect: bool = False,
        backoff: Backoff | None = None,
        notice: Notice = _ignore,
    ) -> None:
        self.client = client
        self.endpoint = endpoint
        self.last_seq = since
        self.reconnect = reconnect
        self.backoff = backoff or Backoff()
        self.notice = notice
        self.connections = 0
        self.ws: ClientConnection | None = None
        self._closing = False
        self._relogged = False

    def url(self) -> str:
        query = f"token={quote(self.client.token or '', safe='')}"
        if self.last_seq is not None:
            query += f"&since={self.last_seq}"
        return f"{self.client.ws_base}{self.endpoint.path}?{query}"

    async def send(self, message: dict[str, Any]) -> None:
        if self.ws is None:
            raise ClientError("Not connected; cannot send.")
        await self.ws.send(json.dumps(message))

    async def close(self) -> None:
        self._closing = True
        if self.ws is not None:
            await self.ws.close()

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[dict[str, Any]]:
        while not self._closing:
            ws = await self._connect()
            if ws is None:
                continue
            detail: str | None = None
            try:
                while True:
                    message = json.loads(await ws.recv())
                    if message.get("type") == "error":
                        detail = str(message.get("data", {}).get("detail") or "") or None
                    if self._accept(message):
                        yield message
            except ConnectionClosed as closed:
                close = describe(closed.rcvd.code if closed.rcvd is not None else 1006)
            finally:
                self.ws = None
                await ws.close()  # no-op when already closed; ends it when the consumer left
            if self._closing or close.code == 1000:
                return
            await self._after_close(close, detail)

    async def _connect(self) -> ClientConnection | None:
        try:
            self.ws = await websockets.connect(self.url(), open_timeout=10, max_size=2**22)
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise HandshakeRejected(
                f"The server refused the WebSocket upgrade for {self.endpoint.path} with HTTP "
                f"{status}; is this a OneTask server, and does it serve this endpoint?"
            ) from exc
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            if not self.reconnect or self.connections == 0:
                raise Unreachable(
                    f"Cannot open a WebSocket to {self.client.ws_base} ({exc or type(exc)}). "
                    "Is the server running, and are host and port right?"
                ) from exc
            await self._wait(describe(1006), f"connection failed ({exc})")
            return None
        self.connections += 1
        return self.ws

    def _accept(self, message: dict[str, Any]) -> bool:
        kind = message.get("type")
        if kind == "connected":
            self.backoff.reset()
            self._relogged = False
            if self.last_seq is None:
                self.last_seq = int(message["data"]["seq"])
            return True
        if kind == "resync_required":
            self.last_seq = int(message["data"]["seq"])
            return True
        seq = message.get("seq")
        if isinstance(seq, int) and seq > 0:
            if self.last_seq is not None and seq <= self.last_seq:
                return False  # already seen (a replay overlapping the live stream)
            self.last_seq = seq
        return True

    async def _after_close(self, close: CloseCode, detail: str | None) -> None:
        if not self.reconnect or close.action == "stop":
            raise ServerClosed(close, detail)
        if close.action == "relogin":
            if not self.client.can_relogin or self._relogged:
                raise ServerClosed(close, detail)
            self.notice(f"closed with {close.code} ({close.meaning}); logging in again")
            await self.client.relogin()
            self._relogged = True
        await self._wait(close, f"closed with {close.code} ({close.meaning})")

    async def _wait(self, close: CloseCode, why: str) -> None:
        delay = self.backoff.next_delay(close)
        resume = f" with since={self.last_seq}" if self.last_seq is not None else ""
        self.notice(f"{why}; reconnecting in {delay:.1f}s{resume}")
        await asyncio.sleep(delay)


def subscribe(client: OneTaskClient, endpoint: Endpoint, **options: Any) -> Subscription:
    return Subscription(client, endpoint, **options)
