"""One WebSocket connection and its bounded outgoing queue.

The hub only ever calls `push`, which never awaits: one slow or dead socket cannot delay
a broadcast (NOTES-realtime, trap 5). Until the connection is live (during `connected`
and the replay) pushes are held in order; then:

- on OneTask's uvicorn protocol (realtime/transport.py) the connection hands the hub
  its raw transport (`sink`), and the hub writes each event's frame, built once per
  event, straight to it; `push` writes the same way. The transport's write buffer is
  the queue; past its limit the connection is closed with 4508.
- elsewhere, a deque drained by a writer task through ASGI `send`; a full deque closes
  the connection with 4508.

Either way the client resumes with `since`, and `last_seq` drops anything sent twice.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from onetask.events.close_codes import close_reason
from onetask.events.messages import Error, ErrorData, encode
from onetask.metrics import QUEUE_DROPS, QUEUE_DROPS_HELP, Metrics
from onetask.realtime.transport import FrameWriter, text_frame

Send = Callable[[dict[str, Any]], Awaitable[None]]
_CLOSE = object()
_HOLDING, _DIRECT, _WRITER, _DONE = 0, 1, 2, 3
BYTES_PER_QUEUED_FRAME = 1024  # the transport's buffer limit is ws_queue_size * this
MIN_BUFFER_LIMIT = 64 * 1024
_NOTHING_HELD: deque[Any] = deque()  # shared once live on the direct path: never appended to

# Every subscriber of an event is pushed the same `str` object in turn, so caching the
# last one framed is enough to frame each event once.
_framed_text: str | None = None
_framed = b""


def framed(text: str) -> bytes:
    global _framed_text, _framed
    if text is not _framed_text:
        _framed, _framed_text = text_frame(text), text
    return _framed


def error_frame(code: str, detail: str) -> str:
    return encode(Error(data=ErrorData(code=code, detail=detail)))


class Connection:
    __slots__ = (
        "_close_code",
        "_detach",
        "_held",
        "_limit",
        "_mode",
        "_send",
        "_wake",
        "_writer",
        "_writer_task",
        "bucket",
        "bucket_at",
        "channel",
        "closing",
        "expires_at",
        "last_seen",
        "last_seq",
        "max_queue",
        "metrics",
        "on_slow",
        "token_id",
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
        transport: FrameWriter | None = None,
        metrics: Metrics | None = None,
        token_id: int | None = None,
    ) -> None:
        self._send = send
        self.token_id = token_id  # the personal API token it was opened with
        self._writer = transport
        self.user_id = user_id
        self.username = username
        self.channel = channel
        self.workspace_id = workspace_id
        self.expires_at = expires_at
        self.max_queue = max_queue
        self._limit = max(max_queue * BYTES_PER_QUEUED_FRAME, MIN_BUFFER_LIMIT)
        self.last_seq = 0
        self.last_seen = time.monotonic()
        self.bucket = float(burst)
        self.bucket_at = self.last_seen
        self.closing = False
        self._close_code = 1000
        self._mode = _HOLDING
        self._held: deque[Any] = deque()
        self._wake: asyncio.Event | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self.on_slow: Callable[[], None] | None = None
        self._detach: Callable[[Connection], None] | None = None
        self.metrics = metrics

    def push(self, seq: int, frame: str) -> None:
        """Send or queue a frame; `seq` 0 is a frame outside the channel's sequence."""
        if self._mode == _DIRECT:
            if seq:
                if seq <= self.last_seq:
                    return  # already sent during replay
                self.last_seq = seq
            assert self._writer is not None
            if self._writer.write_frame(framed(frame)) > self._limit:
                self._fell_behind(1)
            return
        if self.closing:
            return
        if len(self._held) >= self.max_queue:
            self._fell_behind(len(self._held) + 1)
            return
        self._held.append((seq, frame))
        if self._wake is not None:
            self._wake.set()

    def sink(self, detach: Callable[[Connection], None]) -> asyncio.WriteTransport | None:
        """The transport the hub may write this connection's events to directly, from
        now until `detach` is called (on close); None where there is no such thing."""
        if self._mode != _DIRECT or self.closing:
            return None
        assert self._writer is not None
        self._detach = detach
        return self._writer.watch_overflow(self._limit, self._overflowed)

    def _overflowed(self) -> None:
        if not self.closing:
            self._fell_behind(1)

    def _fell_behind(self, dropped: int) -> None:
        if self.on_slow is not None:
            self.on_slow()
        if self.metrics is not None:
            self.metrics.inc(QUEUE_DROPS, QUEUE_DROPS_HELP, dropped)
        self.close(4508, "fell_behind", "You fell behind; reconnect with since.", flush=False)

    def close(self, code: int, error: str | None, detail: str = "", *, flush: bool = True) -> None:
        """Send an `error` (if given), then close with `code`, after queued frames if flush.

        On the direct path everything pushed is already in the transport's buffer, ahead
        of the close, whatever `flush` says."""
        if self.closing:
            return
        self.closing = True
        self._close_code = code
        if self._detach is not None:
            self._detach(self)  # no event frame may follow the close frame
            self._detach = None
        if self._mode == _DIRECT:
            self._mode = _DONE
            assert self._writer is not None
            if error is not None:
                self._writer.write_frame(text_frame(error_frame(error, detail)))
            self._writer.close_now(code)
            return
        if not flush:
            self._held.clear()
        if error is not None:
            self._held.append((0, error_frame(error, detail)))
        self._held.append(_CLOSE)
        if self._wake is not None:
            self._wake.set()

    async def send_now(self, frame: str) -> None:
        """Before the connection is live (handshake, replay): send directly."""
        await self._send({"type": "websocket.send", "text": frame})

    def start_writer(self) -> None:
        """Go live: send what was held meanwhile, in order, then stream."""
        if self._writer is None:
            self._mode = _WRITER
            self._wake = asyncio.Event()
            self._writer_task = asyncio.create_task(self._write(), name=f"ws-writer:{self.channel}")
            return
        held, self._held = self._held, _NOTHING_HELD
        self._mode = _DIRECT
        self.closing = False  # a close that was held is replayed below, in order
        for item in held:
            if item is _CLOSE:
                self.close(self._close_code, None)
                return
            self.push(*item)

    async def wait_closed(self, grace_s: float) -> None:
        if self._writer_task is not None:
            await asyncio.wait({self._writer_task}, timeout=grace_s)
            return
        if self._writer is not None:
            deadline = time.monotonic() + grace_s
            # Shutdown only: polling spares every connection an Event it would rarely use.
            while self._writer.buffered() and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.02)

    def stop_writer(self) -> None:
        if self._mode == _DIRECT:
            self._mode = _DONE
            self.closing = True
        if self._writer_task is not None and not self._writer_task.done():
            self._writer_task.cancel()

    async def _write(self) -> None:
        queue, send, wake = self._held, self._send, self._wake
        assert wake is not None
        try:
            while True:
                while not queue:
                    wake.clear()
                    await wake.wait()
                item = queue.popleft()
                if item is _CLOSE:
                    code, reason = self._close_code, close_reason(self._close_code)
                    await send({"type": "websocket.close", "code": code, "reason": reason})
                    return
                seq, frame = item
                if seq:
                    if seq <= self.last_seq:
                        continue  # already sent during replay
                    self.last_seq = seq
                await send({"type": "websocket.send", "text": frame})
        except (Exception, asyncio.CancelledError):
            return  # the peer is gone; the reader notices and cleans up

    def heard_since(self, moment: float) -> bool:
        """Whether the peer has shown it is there since `moment` (`time.monotonic()`).

        A message counts (`last_seen`, set by the reader), and on OneTask's transport so
        does a pong or a ping: every browser answers the server's protocol pings by
        itself, so a page that only listens is never idle. Elsewhere (another ASGI
        server) pongs are invisible to the application, and the server holding the
        socket pings and drops a peer that stops answering itself: a socket it still
        holds counts as heard. `last_seen` is moved up to what was found, so an idle
        connection is asked again only one idle timeout later."""
        if self.last_seen > moment:
            return True
        writer = self._writer
        heard = time.monotonic() if writer is None else writer.heard_at()
        if heard > self.last_seen:
            self.last_seen = heard
        return heard > moment

    def take_token(self, rate: float, burst: int) -> bool:
        """Token bucket for client messages."""
        now = time.monotonic()
        self.bucket = min(float(burst), self.bucket + (now - self.bucket_at) * rate)
        self.bucket_at = now
        if self.bucket < 1:
            return False
        self.bucket -= 1
        return True
