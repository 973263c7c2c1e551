"""One heartbeat timer per loop pings every socket once per interval, spreads sockets
over the interval, and stops when no socket is left; the write flow-control flag.

That a peer that answers no ping and sends nothing is closed (4408) and one that answers
is kept is tested against a real server:
`e2e/test_close_codes.py::test_4408_for_a_peer_that_answers_no_ping_and_sends_nothing`."""

from __future__ import annotations

import asyncio

from onetask.realtime.transport import Heartbeat, _Flag

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
