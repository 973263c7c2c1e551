"""One heartbeat timer per loop pings every socket once per interval, spreads sockets
over the interval, and stops when no socket is left; an unanswered ping closes nothing,
any pong counts as hearing from the peer, as a message does; the write flow-control flag.

That a peer that answers no ping and sends nothing is closed (4408) and one that answers
is kept is tested against a real server:
`e2e/test_close_codes.py::test_4408_for_a_peer_that_answers_no_ping_and_sends_nothing`."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from websockets.frames import Frame, Opcode

from onetask.realtime.connection import Connection
from onetask.realtime.transport import Heartbeat, OneTaskWebSocketProtocol, _Flag

INTERVAL = 0.2


class FakeSocket:
    def __init__(self) -> None:
        self.pings: list[tuple[float, bytes, bytes]] = []

    def heartbeat(self, frame: bytes, payload: bytes, now: float) -> None:
        self.pings.append((now, frame, payload))


async def test_each_socket_is_pinged_once_per_interval_with_a_valid_frame() -> None:
    loop = asyncio.get_running_loop()
    heartbeat = Heartbeat(loop, INTERVAL)
    sockets = [FakeSocket() for _ in range(3)]
    slots = [heartbeat.add(s) for s in sockets]  # type: ignore[arg-type]
    await asyncio.sleep(INTERVAL * 5.5)
    for sock in sockets:
        assert 4 <= len(sock.pings) <= 6
        gaps = [b[0] - a[0] for a, b in zip(sock.pings, sock.pings[1:], strict=False)]
        assert all(INTERVAL * 0.8 <= gap <= INTERVAL * 1.5 for gap in gaps), gaps
        for _, frame, payload in sock.pings:
            assert frame == b"\x89\x04" + payload  # FIN + ping, unmasked, 4-byte payload
        assert len({payload for _, _, payload in sock.pings}) == len(sock.pings)
    for sock, slot in zip(sockets, slots, strict=True):
        heartbeat.discard(sock, slot)  # type: ignore[arg-type]
    await asyncio.sleep(INTERVAL / Heartbeat.SLOTS * 2)
    assert heartbeat.timer is None  # nothing left to ping: no timer either


async def test_sockets_that_join_at_different_times_are_pinged_at_different_times() -> None:
    heartbeat = Heartbeat(asyncio.get_running_loop(), INTERVAL)
    early, late = FakeSocket(), FakeSocket()
    heartbeat.add(early)  # type: ignore[arg-type]
    await asyncio.sleep(INTERVAL / 2)
    heartbeat.add(late)  # type: ignore[arg-type]
    await asyncio.sleep(INTERVAL * 2)
    assert early.pings and late.pings
    offset = (late.pings[0][0] - early.pings[0][0]) % INTERVAL
    assert INTERVAL * 0.3 <= offset <= INTERVAL * 0.7, offset


async def test_a_paused_socket_holds_its_senders_until_it_is_writable_again() -> None:
    """`_Flag`, uvicorn's `writable` event on OneTask's protocol: `send` waits on it while
    the transport is paused (`pause_writing` clears it, `resume_writing` and
    `connection_lost` set it)."""
    writable = _Flag()
    await asyncio.wait_for(writable.wait(), 1)  # writable from the start
    writable.clear()
    senders = [asyncio.create_task(writable.wait()) for _ in range(2)]
    gone = asyncio.create_task(writable.wait())
    await asyncio.sleep(0.01)
    assert not any(s.done() for s in [*senders, gone])
    gone.cancel()  # a sender whose task was cancelled meanwhile
    writable.set()
    await asyncio.wait_for(asyncio.gather(*senders), 1)
    assert writable.is_set()
    await asyncio.wait_for(writable.wait(), 1)


class PingSink:
    """The transport a protocol pings through."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return False


def bare_protocol() -> OneTaskWebSocketProtocol:
    """The protocol's heartbeat state alone, without a server around it."""
    protocol = OneTaskWebSocketProtocol.__new__(OneTaskWebSocketProtocol)
    protocol.loop = asyncio.new_event_loop()
    protocol.transport = PingSink()  # type: ignore[assignment]
    protocol.close_sent = False
    protocol.pending_ping_payload = None
    protocol.ping_sent_at = 0.0
    protocol.last_ping_rtt = 0.0
    protocol._heard_at = 0.0
    return protocol


def test_an_unanswered_ping_closes_nothing_and_any_pong_is_heard() -> None:
    protocol = bare_protocol()
    try:
        protocol.heartbeat(b"\x89\x04ping", b"ping", 1.0)
        protocol.heartbeat(b"\x89\x04pong", b"pong", 2.0)  # the first is still unanswered
        assert protocol.transport.written == [b"\x89\x04ping", b"\x89\x04pong"]  # type: ignore[attr-defined]
        assert not protocol.close_sent and protocol.heard_at() == 0.0

        before = time.monotonic()
        protocol.handle_pong(Frame(Opcode.PONG, b"ping"))  # late: answers the older ping
        assert protocol.heard_at() >= before
        assert protocol.pending_ping_payload == b"pong"  # no round-trip time from it
        protocol.handle_pong(Frame(Opcode.PONG, b"pong"))
        assert protocol.pending_ping_payload is None
    finally:
        protocol.loop.close()


class Heard:
    """`FrameWriter.heard_at` alone."""

    def __init__(self, at: float) -> None:
        self.at = at

    def heard_at(self) -> float:
        return self.at


def quiet_connection(transport: Heard | None) -> Connection:
    async def send(message: dict[str, Any]) -> None:
        pass

    conn = Connection(
        send,
        user_id=1,
        username="u",
        channel="c",
        workspace_id=None,
        expires_at=time.time() + 60,
        max_queue=4,
        burst=4,
        transport=transport,  # type: ignore[arg-type]
    )
    conn.last_seen = 100.0  # its last message
    return conn


def test_a_peer_is_heard_by_its_messages_and_its_pongs() -> None:
    # A pong at 130 after a message at 100: heard since 120, and `last_seen` moves up.
    answering = quiet_connection(Heard(130.0))
    assert answering.heard_since(120.0)
    assert answering.last_seen == 130.0
    assert not answering.heard_since(140.0)
    # A peer whose last pong is older than its last message: only the message counts.
    gone = quiet_connection(Heard(50.0))
    assert gone.heard_since(90.0) and not gone.heard_since(110.0)
    assert gone.last_seen == 100.0
    # Elsewhere (no OneTask transport), the server holding the socket pings for us.
    assert quiet_connection(None).heard_since(time.monotonic() - 1)
