"""The broker's own Redis protocol client (`resp.py`) and the broker built on it.

A small fake Redis (`FakeRedis`: PUBLISH, SUBSCRIBE, PING, AUTH, and ways to misbehave)
runs in the test's loop, so these run on every back end; the PostgreSQL + Redis suite
runs everything else against the real one.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onetask.events.outbox import CommittedEvent
from onetask.realtime import broker as broker_module
from onetask.realtime import resp
from onetask.realtime.broker import RedisBroker

# -- the wire format --------------------------------------------------------------------

replies = st.recursive(
    st.one_of(
        st.binary(max_size=30),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.none(),
    ),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=10,
)


def encode_reply(value: object) -> bytes:
    """The server's side: any reply as RESP2 (bulk strings, integers, nulls, arrays)."""
    if value is None:
        return b"$-1\r\n"
    if isinstance(value, bytes):
        return b"$%d\r\n%s\r\n" % (len(value), value)
    if isinstance(value, int):
        return b":%d\r\n" % value
    assert isinstance(value, list)
    return b"*%d\r\n" % len(value) + b"".join(encode_reply(v) for v in value)


@given(st.lists(replies, min_size=1, max_size=5))
def test_replies_read_back_exactly_and_only_once_complete(values: list[object]) -> None:
    wire = b"".join(encode_reply(v) for v in values)
    read, pos = [], 0
    while pos < len(wire):
        value, pos = resp.parse(wire, pos)
        read.append(value)
    assert read == values
    # Cut anywhere inside the first reply, nothing is read and nothing consumed.
    first = len(encode_reply(values[0]))
    for cut in range(first):
        assert resp.parse(wire[:cut]) == (resp._INCOMPLETE, 0)


def test_status_and_error_replies() -> None:
    assert resp.parse(b"+PONG\r\n") == (b"PONG", 7)
    error, end = resp.parse(b"-NOAUTH Authentication required.\r\n")
    assert isinstance(error, resp.RespError) and str(error) == "NOAUTH Authentication required."
    assert end == 34
    with pytest.raises(resp.ProtocolError):
        resp.parse(b"!oops\r\n")


def test_commands_are_arrays_of_bulk_strings() -> None:
    assert resp.encode(b"PUBLISH", b"t", b"a\r\nb") == (
        b"*3\r\n$7\r\nPUBLISH\r\n$1\r\nt\r\n$4\r\na\r\nb\r\n"
    )


# -- a connection -----------------------------------------------------------------------


async def pair(on_message: resp.OnMessage | None = None) -> tuple[resp.Connection, socket.socket]:
    """A connection whose other end is a plain socket the test reads and writes."""
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    conn = resp.Connection(on_message, timeout_s=0.3)
    await asyncio.get_running_loop().create_connection(lambda: conn, sock=ours)
    return conn, theirs


async def test_a_command_is_on_the_wire_when_request_returns() -> None:
    conn, theirs = await pair()
    reply = conn.request(b"PUBLISH", b"topic", b"payload")
    # No await since `request`: the bytes were written by it.
    assert theirs.recv(100) == resp.encode(b"PUBLISH", b"topic", b"payload")
    theirs.send(b":2\r\n")
    assert await reply == 2
    conn.close()


async def test_pipelined_replies_resolve_in_order_whatever_the_reads_cut() -> None:
    conn, theirs = await pair()
    pending = [conn.request(b"PING") for _ in range(3)]
    wire = b"+PONG\r\n-ERR no\r\n:7\r\n"
    for byte in wire:  # one byte per read
        theirs.send(bytes([byte]))
        await asyncio.sleep(0.001)
    assert await pending[0] == b"PONG"
    with pytest.raises(resp.RespError, match="ERR no"):
        await pending[1]
    assert await pending[2] == 7
    conn.close()


async def test_pushed_messages_go_to_the_subscriber_not_to_a_reply() -> None:
    received: list[bytes] = []
    conn, theirs = await pair(received.append)
    subscribed = conn.request(b"SUBSCRIBE", b"topic")
    theirs.send(encode_reply([b"subscribe", b"topic", 1]))
    assert await subscribed == [b"subscribe", b"topic", 1]
    ping = conn.request(b"PING")
    theirs.send(encode_reply([b"message", b"topic", b"one"]) + encode_reply([b"pong", b""]))
    assert await ping == [b"pong", b""]
    assert received == [b"one"]
    conn.close()


async def test_a_lost_connection_fails_what_awaits_a_reply() -> None:
    conn, theirs = await pair()
    reply = conn.request(b"PING")
    theirs.close()
    with pytest.raises(ConnectionError, match="lost"):
        await reply
    await conn.closed
    with pytest.raises(ConnectionError):
        conn.request(b"PING")


async def test_a_silent_redis_fails_the_reply_and_closes_the_connection() -> None:
    conn, theirs = await pair()
    with pytest.raises(ConnectionError, match="did not answer"):
        await conn.request(b"PING")
    await asyncio.wait_for(conn.closed, 1)
    theirs.close()


async def test_garbage_from_redis_closes_the_connection() -> None:
    conn, theirs = await pair()
    reply = conn.request(b"PING")
    theirs.send(b"?what\r\n")
    with pytest.raises(resp.ProtocolError):
        await reply
    await asyncio.wait_for(conn.closed, 1)
    theirs.close()


def test_the_url_means_what_it_means_to_redis_py() -> None:
    plain = resp.Address.from_url("redis://127.0.0.1:6380/15")
    assert (plain.host, plain.port, plain.password, plain.ssl) == ("127.0.0.1", 6380, None, None)
    secure = resp.Address.from_url("rediss://bob:s3cret@cache:6390/0?ssl_cert_reqs=none")
    assert (secure.username, secure.password) == ("bob", "s3cret")
    assert secure.ssl is not None and secure.ssl.check_hostname is False
    assert resp.Address.from_url("rediss://cache").ssl.check_hostname is True  # type: ignore[union-attr]


# -- the broker, against a fake Redis ---------------------------------------------------


class FakeRedis:
    """PUBLISH, SUBSCRIBE, PING and AUTH over RESP2, on a loopback port. `silent` stops
    it answering (a Redis that hangs); `drop()` closes every client's connection."""

    def __init__(self, password: bytes | None = None, tls: ssl.SSLContext | None = None) -> None:
        self.password = password
        self.tls = tls
        self.subscribers: dict[bytes, set[asyncio.StreamWriter]] = {}
        self.writers: set[asyncio.StreamWriter] = set()
        self.commands: list[list[bytes]] = []
        self.silent = False
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        port = self.server.sockets[0].getsockname()[1]
        auth = f":{self.password.decode()}@" if self.password else ""
        return f"{'rediss' if self.tls else 'redis'}://{auth}127.0.0.1:{port}/0"

    def drop(self) -> None:
        for writer in list(self.writers):
            writer.close()

    async def stop(self) -> None:
        self.drop()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        authed = self.password is None
        buffer = b""
        try:
            while data := await reader.read(65536):
                buffer += data
                while True:
                    command, pos = resp.parse(buffer)
                    if command is resp._INCOMPLETE:
                        break
                    buffer = buffer[pos:]
                    self.commands.append(command)
                    if self.silent:
                        continue
                    name = command[0].upper()
                    if name == b"AUTH":
                        authed = command[-1] == self.password
                        writer.write(b"+OK\r\n" if authed else b"-WRONGPASS invalid\r\n")
                    elif not authed:
                        writer.write(b"-NOAUTH Authentication required.\r\n")
                    elif name == b"PUBLISH":
                        listeners = self.subscribers.get(command[1], set())
                        for listener in listeners:
                            listener.write(encode_reply([b"message", command[1], command[2]]))
                        writer.write(b":%d\r\n" % len(listeners))
                    elif name == b"SUBSCRIBE":
                        self.subscribers.setdefault(command[1], set()).add(writer)
                        writer.write(encode_reply([b"subscribe", command[1], 1]))
                    elif name == b"PING":
                        subscribed = any(writer in s for s in self.subscribers.values())
                        writer.write(encode_reply([b"pong", b""]) if subscribed else b"+PONG\r\n")
        finally:
            self.writers.discard(writer)
            for listeners in self.subscribers.values():
                listeners.discard(writer)
            writer.close()


def event(seq: int) -> CommittedEvent:
    return CommittedEvent("workspace:1:tasks", seq, f'{{"type":"task_update","seq":{seq}}}')


class Received:
    def __init__(self) -> None:
        self.events: list[CommittedEvent] = []
        self.reconnects = 0
        self.changed = asyncio.Event()

    def on_events(self, events: list[CommittedEvent]) -> None:
        self.events += events
        self.changed.set()

    def on_reconnect(self) -> None:
        self.reconnects += 1
        self.changed.set()

    async def until(self, condition: object, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not (callable(condition) and condition()):
                self.changed.clear()
                await self.changed.wait()


@asynccontextmanager
async def running(fake: FakeRedis, query: str = "") -> AsyncIterator[tuple[RedisBroker, Received]]:
    """A broker started against `fake`, and what it has received."""
    url = await fake.start()
    received = Received()
    broker = RedisBroker(url + query, "ns:events.v2")
    try:
        await broker.start(received.on_events, received.on_reconnect)
        yield broker, received
    finally:
        await broker.close()
        await fake.stop()


async def test_the_broker_publishes_in_order_and_delivers_in_order() -> None:
    fake = FakeRedis(password=b"pw")
    async with running(fake) as (broker, received):
        publisher = broker._publisher  # connected by start()
        assert publisher is not None and publisher.usable
        seen = len(fake.commands)
        first = broker.publish([event(1), event(2)])
        second = broker.publish([event(3)])  # pipelined behind the first
        await asyncio.gather(first, second)
        assert [c[0] for c in fake.commands[seen:]] == [b"PUBLISH", b"PUBLISH"]
        await received.until(lambda: len(received.events) == 3)
        assert received.events == [event(1), event(2), event(3)]


async def test_a_big_burst_goes_out_in_broker_sized_messages() -> None:
    fake = FakeRedis()
    async with running(fake) as (broker, received):
        await broker.publish([event(seq) for seq in range(1, 251)])
        await received.until(lambda: len(received.events) == 250)
        assert received.events == [event(seq) for seq in range(1, 251)]
        assert sum(c[0] == b"PUBLISH" for c in fake.commands) == 3  # 100 + 100 + 50


async def test_a_dropped_subscription_is_restored_and_reported() -> None:
    fake = FakeRedis()
    async with running(fake) as (broker, received):
        assert await broker.ping()
        publisher = broker._publisher
        fake.drop()  # both connections: Redis restarted
        await received.until(lambda: received.reconnects == 1)
        await broker.publish([event(2)])
        assert broker._publisher is not publisher  # a new connection, opened on the way
        await received.until(lambda: received.events == [event(2)])


async def test_a_redis_that_stops_answering_is_left_for_a_new_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(broker_module, "HEALTH_CHECK_S", 0.1)
    fake = FakeRedis()
    async with running(fake, "?socket_timeout=0.2") as (broker, received):
        fake.silent = True  # the subscription's ping goes unanswered
        await asyncio.sleep(0.5)
        assert not await broker.ping()
        fake.silent = False
        await received.until(lambda: received.reconnects >= 1)
        assert await broker.ping()


async def test_a_wrong_password_is_a_broker_that_is_not_ready() -> None:
    fake = FakeRedis(password=b"right")
    url = await fake.start()
    broker = RedisBroker(url.replace(":right@", ":wrong@"), "ns:events.v2")
    try:
        assert not await broker.ping()
    finally:
        await broker.close()
        await fake.stop()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, and its key."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_rediss_verifies_the_server_and_carries_the_events(
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    fake = FakeRedis(tls=tls)
    async with running(fake, f"?ssl_ca_certs={cert}") as (broker, received):
        port = fake.server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        untrusted = RedisBroker(f"rediss://127.0.0.1:{port}/0", "ns:events.v2")
        assert not await untrusted.ping()  # a self-signed certificate, not trusted by default
        await untrusted.close()
        await broker.publish([event(1)])
        await received.until(lambda: received.events == [event(1)])
