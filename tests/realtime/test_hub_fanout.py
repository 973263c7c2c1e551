"""The hub's hot loop, against fake transports: what reaches each socket, in which order,
and what never follows a close frame."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from onetask.db import uow
from onetask.db.models import ChannelHead
from onetask.db.types import utcnow
from onetask.events.outbox import CommittedEvent
from onetask.realtime import connection
from onetask.realtime.connection import Connection
from onetask.realtime.hub import Hub
from onetask.realtime.transport import text_frame

CLOSE = b"<close>"


class FakeTransport:
    """What the hub's loop touches: `write` and `is_closing`."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.closing = False
        self.high = 0

    def write(self, data: bytes) -> None:
        assert not self.closing, "written after close"
        self.chunks.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def set_write_buffer_limits(self, high: int) -> None:
        self.high = high


class FakeWriter:
    """OneTask's uvicorn protocol as `Connection` sees it."""

    def __init__(self) -> None:
        self.transport = FakeTransport()
        self.on_overflow: Callable[[], None] | None = None
        self.closed_with: int | None = None

    def write_frame(self, frame: bytes) -> int:
        if self.closed_with is not None:
            return -1
        self.transport.write(frame)
        return 0

    def buffered(self) -> int:
        return 0

    def close_now(self, code: int) -> None:
        self.closed_with = code
        self.transport.chunks.append(CLOSE)

    def watch_overflow(self, limit: int, on_overflow: Callable[[], None]) -> Any:
        self.on_overflow = on_overflow
        self.transport.set_write_buffer_limits(limit)
        return self.transport

    def frames(self) -> list[bytes]:
        return self.transport.chunks


async def _ignore(message: dict[str, Any]) -> None:
    pass


def event(channel: str, seq: int, final: bool = False) -> CommittedEvent:
    return CommittedEvent(channel, seq, f'{{"type":"task_update","seq":{seq}}}', final)


def error_frame(code: str, detail: str) -> bytes:
    return text_frame(connection.error_frame(code, detail))


def framed(seq: int) -> bytes:
    return text_frame(f'{{"type":"task_update","seq":{seq}}}')


@pytest.fixture
def hub(app: FastAPI) -> Hub:
    hub: Hub = app.state.hub
    return hub


@pytest.fixture
def channel() -> str:
    return f"fanout-test:{uuid.uuid4().hex}"  # unique in a database reused across runs


async def live(hub: Hub, channel: str, since: int | None = None) -> tuple[Connection, FakeWriter]:
    writer = FakeWriter()
    conn = Connection(
        _ignore,
        user_id=1,
        username="u",
        channel=channel,
        workspace_id=None,
        expires_at=time.time() + 3600,
        max_queue=16,
        burst=10,
        transport=writer,
    )
    await hub.join(conn, since)
    return conn, writer


async def test_every_live_socket_gets_each_frame_once_in_order(hub: Hub, channel: str) -> None:
    sockets = [await live(hub, channel) for _ in range(3)]
    hub.on_events([event(channel, 1)])
    # One broker batch, with a late duplicate: one write per socket.
    hub.on_events([event(channel, 2), event(channel, 3), event(channel, 2)])
    for conn, writer in sockets:
        assert writer.frames() == [framed(1), framed(2) + framed(3)]
        hub.leave(conn)


async def test_no_event_follows_the_close_frame(hub: Hub, channel: str) -> None:
    (closed, closed_writer), (open_, open_writer) = [await live(hub, channel) for _ in range(2)]
    hub.on_events([event(channel, 1)])
    closed.close(4403, "access_revoked", "gone")  # still subscribed until its reader leaves
    hub.on_events([event(channel, 2)])
    # Seq 1 was delivered before the close, so it is written before the error and close.
    assert closed_writer.frames() == [framed(1), error_frame("access_revoked", "gone"), CLOSE]
    assert open_writer.frames() == [framed(1), framed(2)]
    hub.leave(closed)
    hub.leave(open_)


async def test_a_transport_closed_under_the_hub_is_skipped(hub: Hub, channel: str) -> None:
    (gone, gone_writer), (other, other_writer) = [await live(hub, channel) for _ in range(2)]
    gone_writer.transport.closing = True  # the peer vanished; its reader has not left yet
    hub.on_events([event(channel, 1)])
    assert gone_writer.frames() == []
    assert other_writer.frames() == [framed(1)]
    hub.leave(gone)
    hub.leave(other)


async def test_overflow_closes_with_4508_once(hub: Hub, channel: str) -> None:
    conn, writer = await live(hub, channel)
    assert writer.transport.high >= 16 * 1024
    assert writer.on_overflow is not None
    writer.on_overflow()
    writer.on_overflow()  # the transport may say so again before the close lands
    assert writer.closed_with == 4508
    assert writer.frames().count(CLOSE) == 1
    hub.on_events([event(channel, 1)])
    assert framed(1) not in writer.frames()
    hub.leave(conn)


async def test_a_socket_ahead_of_this_process_gets_only_newer_seqs(hub: Hub, channel: str) -> None:
    # Seq 2 is committed and the client saw it on a faster process; this one is at 0.
    conn, _ = await live(hub, channel)
    async with hub.database.session(write=True) as session:
        session.add(ChannelHead(channel=channel, last_seq=2, updated_at=utcnow()))
        await uow.commit(session)
    ahead, writer = await live(hub, channel, since=2)
    for seq in (1, 2, 3, 4):
        hub.on_events([event(channel, seq)])
        frames = [f for f in writer.frames() if b"task_update" in f]
    assert frames == [framed(3), framed(4)]
    assert ahead in hub.channels[channel].sinks  # caught up: on the hot loop now
    hub.on_events([event(channel, 5), event(channel, 6)])
    assert writer.frames()[-1] == framed(5) + framed(6)
    hub.leave(ahead)
    hub.leave(conn)


async def test_a_final_event_closes_everyone_after_delivering_it(hub: Hub, channel: str) -> None:
    sockets = [await live(hub, channel) for _ in range(2)]
    hub.on_events([event(channel, 1, final=True)])
    for conn, writer in sockets:
        assert writer.frames() == [framed(1), CLOSE]
        assert writer.closed_with == 1000
        hub.leave(conn)


async def test_a_local_commit_is_written_at_once_and_coalesced_when_the_channel_is_hot(
    hub: Hub, channel: str
) -> None:
    conn, writer = await live(hub, channel)
    hub.on_local_commit([event(channel, 1)])
    assert writer.frames() == [framed(1)]  # before the committing request goes on
    # The channel has spent most of its recent time writing (as under sustained load):
    # commits landing before the next loop turn share one write per socket.
    hub.channels[channel].busy_until = time.perf_counter() + 60
    hub.on_local_commit([event(channel, 2)])
    hub.on_local_commit([event(channel, 3)])
    assert writer.frames() == [framed(1)]
    await asyncio.sleep(0)
    assert writer.frames() == [framed(1), framed(2) + framed(3)]
    # A broker batch is written at once, hot or not: it is one write for many already.
    hub.channels[channel].busy_until = time.perf_counter() + 60
    hub.on_events([event(channel, 4)])
    assert writer.frames()[-1] == framed(4)
    # A close still comes after what was queued for the socket.
    hub.on_local_commit([event(channel, 5, final=True)])
    assert writer.frames()[-2:] == [framed(5), CLOSE]
    await asyncio.sleep(0)
    assert writer.frames().count(framed(5)) == 1
    hub.leave(conn)
