"""Just enough of Redis's wire protocol (RESP2) for the broker, on an asyncio protocol.

The broker's two connections are on the path of every cross-process event. redis-py's
asyncio client takes a pool checkout and a loop turn before it writes a command, and
several awaits per message received: in process, with the caches warm, a PUBLISH costs
109 µs of CPU through it and 66 µs here, and a received message 10-14 µs more. Here
`Connection.request` has written the command when it returns (the relay publishes as
COMMIT returns, before the request goes on to build its response), and a subscriber's
messages are handed on from `data_received` itself. Everything else that talks to Redis
(presence, login rate limits) keeps using redis-py.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio.connection import SSLConnection, parse_url

OnMessage = Callable[[bytes], None]


class RespError(Exception):
    """Redis answered a command with an error reply (`-ERR …`)."""


class ProtocolError(ConnectionError):
    """Redis sent something this client cannot read, or a reply nobody asked for."""


_INCOMPLETE: Any = object()


def encode(*args: bytes) -> bytes:
    """A command as RESP: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        parts += (b"$%d\r\n" % len(arg), arg, b"\r\n")
    return b"".join(parts)


def parse(buffer: bytes | bytearray, pos: int = 0) -> tuple[Any, int]:
    """The reply that starts at `pos`, and where the next one starts; `_INCOMPLETE` (and
    `pos`) until all of it has arrived. Errors are returned as `RespError`s, not raised."""
    end = buffer.find(b"\r\n", pos)
    if end < 0:
        return _INCOMPLETE, pos
    kind, line, after = buffer[pos], bytes(buffer[pos + 1 : end]), end + 2
    if kind == 0x2B:  # +
        return line, after
    if kind == 0x3A:  # :
        return int(line), after
    if kind == 0x2D:  # -
        return RespError(line.decode(errors="replace")), after
    if kind == 0x24:  # $
        size = int(line)
        if size < 0:
            return None, after
        if len(buffer) < after + size + 2:
            return _INCOMPLETE, pos
        return bytes(buffer[after : after + size]), after + size + 2
    if kind == 0x2A:  # *
        count = int(line)
        if count < 0:
            return None, after
        items = []
        for _ in range(count):
            item, after = parse(buffer, after)
            if item is _INCOMPLETE:
                return _INCOMPLETE, pos
            items.append(item)
        return items, after
    raise ProtocolError(f"unexpected RESP type byte {kind!r}")


class Connection(asyncio.Protocol):
    """One connection: commands are written in order and their replies, which Redis
    sends in the same order, resolve their futures in order. With `on_message`, the
    connection is a subscriber and each `message` push is handed to it as it arrives."""

    def __init__(self, on_message: OnMessage | None = None, *, timeout_s: float = 5.0) -> None:
        self.on_message = on_message
        self.timeout_s = timeout_s
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._buffer = bytearray()
        self._replies: deque[asyncio.Future[Any]] = deque()

    @property
    def usable(self) -> bool:
        """Open, and not closing: `request` would write."""
        return self.transport is not None and not self.transport.is_closing()

    def request(self, *args: bytes) -> asyncio.Future[Any]:
        """Write the command now; the future has its reply, a `RespError`, or a
        `ConnectionError` if the connection is lost or Redis takes `timeout_s` to answer
        (the connection is then closed: a stuck Redis is started over with)."""
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionError("not connected to Redis")
        loop = asyncio.get_running_loop()
        reply = loop.create_future()
        self._replies.append(reply)
        transport.write(encode(*args))
        timer = loop.call_later(self.timeout_s, self._expire, reply)
        reply.add_done_callback(lambda _: timer.cancel())
        return reply

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        pos = 0
        try:
            while pos < len(buffer):
                value, pos = parse(buffer, pos)
                if value is _INCOMPLETE:
                    break
                self._dispatch(value)
        except (ProtocolError, ValueError) as exc:
            self._fail(ProtocolError(f"unreadable reply from Redis: {exc}"))
            return
        del buffer[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError("connection to Redis lost"))
        if not self.closed.done():
            self.closed.set_result(None)

    # -- internals -----------------------------------------------------------------------

    def _dispatch(self, value: Any) -> None:
        if self.on_message is not None and type(value) is list and value[:1] == [b"message"]:
            self.on_message(value[2])
            return
        if not self._replies:
            raise ProtocolError(f"a reply nobody asked for: {value!r:.80}")
        reply = self._replies.popleft()
        if reply.done():  # timed out; its connection is closing
            return
        if isinstance(value, RespError):
            reply.set_exception(value)
        else:
            reply.set_result(value)

    def _expire(self, reply: asyncio.Future[Any]) -> None:
        if not reply.done():
            self._fail(ConnectionError(f"Redis did not answer within {self.timeout_s} s"))

    def _fail(self, error: ConnectionError) -> None:
        replies, self._replies = self._replies, deque()
        for reply in replies:
            if not reply.done():
                reply.set_exception(error)
        self._buffer.clear()
        self.close()


@dataclass(frozen=True, slots=True)
class Address:
    """Where and how to connect, from a `redis://` or `rediss://` URL (redis-py's
    parsing, so the URL means the same here as for presence and rate limits). The
    database number is ignored: Redis channels span databases."""

    host: str
    port: int
    username: str | None
    password: str | None
    ssl: ssl.SSLContext | None
    connect_timeout_s: float
    timeout_s: float

    @classmethod
    def from_url(cls, url: str) -> Address:
        options: dict[str, Any] = dict(parse_url(url))
        if "path" in options:
            raise ValueError("ONETASK_BROKER_URL must be redis:// or rediss://, not a unix socket")
        context = None
        if options.get("connection_class") is SSLConnection:
            context = ssl.create_default_context(cafile=options.get("ssl_ca_certs"))
            requirement = str(options.get("ssl_cert_reqs", "required")).lower()
            if requirement in ("none", "optional"):
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE if requirement == "none" else ssl.CERT_OPTIONAL
        return cls(
            host=options.get("host", "localhost"),
            port=int(options.get("port", 6379)),
            username=options.get("username"),
            password=options.get("password"),
            ssl=context,
            connect_timeout_s=float(options.get("socket_connect_timeout") or 2.0),
            timeout_s=float(options.get("socket_timeout") or 5.0),
        )


async def connect(address: Address, on_message: OnMessage | None = None) -> Connection:
    """Open a connection, authenticated if the URL has a password."""
    loop = asyncio.get_running_loop()
    conn = Connection(on_message, timeout_s=address.timeout_s)
    await asyncio.wait_for(
        loop.create_connection(lambda: conn, address.host, address.port, ssl=address.ssl),
        address.connect_timeout_s,
    )
    if address.password is not None:
        credentials = [address.password.encode()]
        if address.username:
            credentials.insert(0, address.username.encode())
        try:
            await conn.request(b"AUTH", *credentials)
        except BaseException:
            conn.close()
            raise
    return conn
