"""uvicorn's WebSocket protocol, plus a way for the hub to write pre-built frames.

Going through ASGI costs an `await` and a dict per message per recipient, which is most
of a broadcast's CPU (NOTES-performance). This protocol adds one scope extension,
`onetask.transport`, holding the protocol itself: once a connection is live, the hub
writes the same framed bytes to every subscriber's transport, synchronously, and the
transport's write buffer becomes the bounded per-connection queue. Protocol pings come
from one `Heartbeat` per event loop, and the protocol remembers when its peer last
answered one (`heard_at`), which keeps a silent but live client from being closed as
idle (`Hub._expiry_loop`). Everything else (handshake, reading, answering the peer's
pings, 1009 for oversized frames, close handshake) stays uvicorn's.

Servers without this protocol (tests on ASGI transports, another server) simply lack
the extension, and `Connection` falls back to its queue and writer task.
"""

from __future__ import annotations

import asyncio
import struct
import time
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.frames import Frame
from websockets.http11 import Request

from onetask.events.close_codes import close_reason

EXTENSION = "onetask.transport"


class FrameWriter(Protocol):
    """What `Connection` needs from a live socket."""

    def write_frame(self, frame: bytes) -> int: ...
    def buffered(self) -> int: ...
    def close_now(self, code: int) -> None: ...
    def heard_at(self) -> float: ...
    def watch_overflow(
        self, limit: int, on_overflow: Callable[[], None]
    ) -> asyncio.WriteTransport: ...


def text_frame(text: str) -> bytes:
    """An unmasked, unfragmented server text frame (RFC 6455 §5.2)."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 65536:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


def frame_writer(scope: dict[str, Any] | Any) -> FrameWriter | None:
    extension = scope.get("extensions", {}).get(EXTENSION)
    return None if extension is None else extension.get("writer")


class _Inbox:
    """What uvicorn needs of its `asyncio.Queue` of received messages, in a tenth of the
    memory: a queue holds three deques; this holds a short list and at most one waiter."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)

    def empty(self) -> bool:
        return not self._items


class _Flag:
    """What uvicorn needs of its `asyncio.Event` for write flow control (`writable`), in
    a fraction of the memory: an event holds a deque (600 bytes) for its waiters from
    the start; this makes a list of them only while the socket is paused."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> None:
        if self._set:
            return
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        await waiter


class Heartbeat:
    """Protocol pings for every socket of an event loop, from one timer.

    uvicorn gives each socket two timers per ping (next ping, pong deadline) and builds
    each ping frame through the websockets state machine: at 5,000 idle sockets and a
    20 s interval that was about 0.1 core. Here the interval is cut into `SLOTS` ticks;
    each tick pings the sockets of one slot with one frame built for the tick. A ping
    left unanswered closes nothing by itself: the hub closes a peer it has not heard
    from (no pong, no message) for the idle timeout, with 4408."""

    SLOTS = 20

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        self.loop = loop
        self.interval = interval
        self.slots: list[set[OneTaskWebSocketProtocol]] = [set() for _ in range(self.SLOTS)]
        self.current = 0
        self.rounds = 0
        self.timer: asyncio.TimerHandle | None = None

    def add(self, protocol: OneTaskWebSocketProtocol) -> int:
        """Register `protocol`; its first ping comes one interval from now."""
        slot = self.current  # visited again SLOTS ticks from now
        self.slots[slot].add(protocol)
        if self.timer is None:
            self.timer = self.loop.call_later(self.interval / self.SLOTS, self._tick)
        return slot

    def discard(self, protocol: OneTaskWebSocketProtocol, slot: int) -> None:
        self.slots[slot].discard(protocol)

    def _tick(self) -> None:
        self.timer = None
        self.current = (self.current + 1) % self.SLOTS
        due = self.slots[self.current]
        if due:
            self.rounds = (self.rounds + 1) & 0xFFFFFFFF
            payload = struct.pack("!I", self.rounds)
            frame = b"\x89\x04" + payload  # FIN + ping, unmasked, 4 bytes (RFC 6455 §5.5.2)
            now = self.loop.time()
            for protocol in list(due):
                protocol.heartbeat(frame, payload, now)
        if any(self.slots):
            self.timer = self.loop.call_later(self.interval / self.SLOTS, self._tick)


_heartbeats: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Heartbeat] = (
    weakref.WeakKeyDictionary()
)


def heartbeat_of(loop: asyncio.AbstractEventLoop, interval: float) -> Heartbeat:
    heartbeat = _heartbeats.get(loop)
    if heartbeat is None or heartbeat.interval != interval:
        heartbeat = _heartbeats[loop] = Heartbeat(loop, interval)
    return heartbeat


class OneTaskWebSocketProtocol(WebSocketsSansIOProtocol):
    """`--ws websockets-sansio` plus `write_frame`/`close_now`/`watch_overflow` for the hub."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_overflow: Callable[[], None] | None = None
        self.queue = _Inbox()  # type: ignore[assignment]
        self.writable = _Flag()  # type: ignore[assignment]
        self._heartbeat: Heartbeat | None = None
        self._heartbeat_slot = 0
        self._heard_at = time.monotonic()  # the handshake counts as hearing from the peer

    # -- keepalive: one `Heartbeat` per loop instead of two timers per socket ----------

    def start_keepalive(self) -> None:
        if self.ping_interval is not None and self.ping_interval > 0:
            self._heartbeat = heartbeat_of(self.loop, self.ping_interval)
            self._heartbeat_slot = self._heartbeat.add(self)

    def stop_keepalive(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.discard(self, self._heartbeat_slot)
            self._heartbeat = None
        self.pending_ping_payload = None

    def heartbeat(self, frame: bytes, payload: bytes, now: float) -> None:
        """Called by the heartbeat once per interval: ping. A peer that left earlier
        pings unanswered is pinged all the same; whether it is gone is the hub's call,
        from `heard_at` (a browser cannot send pings, only answer them)."""
        if self.close_sent or self.transport.is_closing():
            self.stop_keepalive()
        else:
            self.pending_ping_payload = payload
            self.ping_sent_at = now
            self.transport.write(frame)

    def handle_pong(self, event: Frame) -> None:
        """Any pong shows the peer is there (RFC 6455 §5.5.3: a pong answers the latest
        ping, and may also be sent unsolicited as a heartbeat); a pong to the ping in
        flight also gives the round-trip time."""
        self._heard_at = time.monotonic()
        if self.pending_ping_payload is not None and event.data == self.pending_ping_payload:
            self.last_ping_rtt = self.loop.time() - self.ping_sent_at
            self.pending_ping_payload = None

    def handle_ping(self) -> None:
        self._heard_at = time.monotonic()
        super().handle_ping()

    def heard_at(self) -> float:
        """When (`time.monotonic()`) the peer last answered a ping or pinged itself; its
        messages are counted by the reader (`Connection.last_seen`)."""
        return self._heard_at

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if not self.close_sent:  # upgrade accepted; the ASGI task has not run yet
            self.scope["extensions"][EXTENSION] = {"writer": self}
        # The request is not needed once the scope is built and the upgrade answered,
        # but it stays referenced for the socket's life (a local of websockets' parser, a
        # generator suspended between frames): empty it, 2 KiB of header strings.
        self.request = None  # type: ignore[assignment]
        event.headers.clear()
        event.path = ""

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete:
            self.response = None  # type: ignore[assignment]  # only used to accept

    def write_frame(self, frame: bytes) -> int:
        """Queue one frame; return the bytes now buffered, or -1 if the socket is closing."""
        if self.close_sent or self.disconnected:
            return -1
        transport = self.transport
        transport.write(frame)
        return transport.get_write_buffer_size()

    def watch_overflow(self, limit: int, on_overflow: Callable[[], None]) -> asyncio.WriteTransport:
        """Hand the hub the raw transport for its fan-out loop, and call `on_overflow`
        (soon, not from inside that loop) once more than `limit` bytes are buffered.

        The transport tells its protocol through `pause_writing`, so the loop itself
        needs no per-socket check beyond `is_closing()`: uvicorn closes the transport
        whenever it sends a close frame of its own, and `close_now`'s caller stops
        writing before it sends ours."""
        self._on_overflow = on_overflow
        transport = self.transport
        transport.set_write_buffer_limits(high=limit)
        return transport

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._on_overflow is not None:
            self.loop.call_soon(self._on_overflow)

    def buffered(self) -> int:
        if self.disconnected or self.transport.is_closing():
            return 0
        return self.transport.get_write_buffer_size()

    def close_now(self, code: int) -> None:
        """What ASGI `websocket.close` does, without waiting for the buffer to drain:
        the close frame is queued after everything written before it."""
        if self.close_sent or self.disconnected or self.transport.is_closing():
            return
        reason = close_reason(code)
        try:
            self.conn.send_close(code, reason)
        except InvalidState:
            return
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.close)
