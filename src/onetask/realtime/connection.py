"""One WebSocket connection: a bounded outgoing queue drained by its own writer task.

The hub only ever calls `push`, which never awaits: one slow or dead socket cannot delay
a broadcast (NOTES-realtime, trap 5). A full queue closes the connection with 4508 and the
client resumes with `since`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from onetask.events.messages import Error, ErrorData, encode

Send = Callable[[dict[str, Any]], Awaitable[None]]
_CLOSE = object()


def error_frame(code: str, detail: str) -> str:
    return encode(Error(data=ErrorData(code=code, detail=detail)))


class Connection:
    __slots__ = (
        "_close_code",
        "_queue",
        "_send",
        "_wake",
        "_writer",
        "bucket",
        "bucket_at",
        "channel",
        "closing",
        "expires_at",
        "last_seen",
        "last_seq",
        "max_queue",
        "on_slow",
        "user_id",
        "username",
        "workspace_id",
    )

    def __init__(
        self,
        send: Send,
        *,
        user_id: int,
        username: str,
        channel: str,
        workspace_id: int | None,
        expires_at: float,
        max_queue: int,
        burst: int,
    ) -> None:
        self._send = send
        self.user_id = user_id
        self.username = username
        self.channel = channel
        self.workspace_id = workspace_id
        self.expires_at = expires_at
        self.max_queue = max_queue
        self.last_seq = 0
        self.last_seen = time.monotonic()
        self.bucket = float(burst)
        self.bucket_at = self.last_seen
        self.closing = False
        self._close_code = 1000
        self._queue: deque[Any] = deque()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self.on_slow: Callable[[], None] | None = None

    def push(self, seq: int, frame: str) -> None:
        """Queue a frame; `seq` 0 is a frame outside the channel's sequence."""
        if self.closing:
            return
        if len(self._queue) >= self.max_queue:
            if self.on_slow is not None:
                self.on_slow()
            self.close(4508, "fell_behind", "You fell behind; reconnect with since.", flush=False)
            return
        self._queue.append((seq, frame))
        self._wake.set()

    def close(self, code: int, error: str | None, detail: str = "", *, flush: bool = True) -> None:
        """Send an `error` (if given), then close with `code`, after queued frames if flush."""
        if self.closing:
            return
        self.closing = True
        self._close_code = code
        if not flush:
            self._queue.clear()
        if error is not None:
            self._queue.append((0, error_frame(error, detail)))
        self._queue.append(_CLOSE)
        self._wake.set()

    async def send_now(self, frame: str) -> None:
        """Before the writer starts (handshake, replay): send directly."""
        await self._send({"type": "websocket.send", "text": frame})

    def start_writer(self) -> None:
        self._writer = asyncio.create_task(self._write(), name=f"ws-writer:{self.channel}")

    async def wait_closed(self, grace_s: float) -> None:
        if self._writer is not None:
            await asyncio.wait({self._writer}, timeout=grace_s)

    def stop_writer(self) -> None:
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()

    async def _write(self) -> None:
        queue, send, wake = self._queue, self._send, self._wake
        try:
            while True:
                while not queue:
                    wake.clear()
                    await wake.wait()
                item = queue.popleft()
                if item is _CLOSE:
                    await send({"type": "websocket.close", "code": self._close_code})
                    return
                seq, frame = item
                if seq:
                    if seq <= self.last_seq:
                        continue  # already sent during replay
                    self.last_seq = seq
                await send({"type": "websocket.send", "text": frame})
        except (Exception, asyncio.CancelledError):
            return  # the peer is gone; the reader notices and cleans up

    def take_token(self, rate: float, burst: int) -> bool:
        """Token bucket for client messages."""
        now = time.monotonic()
        self.bucket = min(float(burst), self.bucket + (now - self.bucket_at) * rate)
        self.bucket_at = now
        if self.bucket < 1:
            return False
        self.bucket -= 1
        return True
