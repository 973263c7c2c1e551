"""The outbox numbers events at commit: what it stores and what it hands on are exactly
the message encoded with its seq, and concurrent writers get consecutive seqs per channel
that become visible in order (on PostgreSQL the heads and the events are written by one
statement)."""

from __future__ import annotations

import asyncio
import random
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from onetask.db import uow
from onetask.db.engine import Database
from onetask.db.models import Event
from onetask.db.types import utcnow
from onetask.events import outbox
from onetask.events.messages import (
    AccessChangeData,
    AccessRevoked,
    LoggedMessage,
    NotificationData,
    NotificationMessage,
    NotificationRead,
    NotificationReadData,
    TaskData,
    TaskUpdate,
    encode,
)
from onetask.realtime.hub import Hub
from onetask.realtime.transport import text_frame
from tests.conftest import make_settings
from tests.realtime.test_hub_fanout import live


def task_update(title: str, description: str | None = None) -> TaskUpdate:
    now = utcnow()
    data = TaskData(
        id=1,
        title=title,
        description=description,
        status="todo",
        priority="medium",
        due_date=None,
        workspace_id=1,
        user_id=1,
        assignee_id=None,
        version=2,
        actor_id=1,
        completed_at=None,
        created_at=now,
        updated_at=now,
        deleted_at=None,
    )
    return TaskUpdate(action="updated", data=data)


def notification(content: str) -> NotificationMessage:
    data = NotificationData(
        id=7,
        title="Task Updated",
        content=content,
        created_at=utcnow(),
        read=False,
        related_entity_type="task",
        related_entity_id=1,
        type="task_updated",
    )
    return NotificationMessage(data=data)


async def commit_events(
    database: Database,
    events: list[tuple[str, LoggedMessage]],
    commits: list[list[outbox.CommittedEvent]] | None = None,
    before_commit: uow.BeforeCommit | None = None,
) -> list[outbox.CommittedEvent]:
    """Record `events` in one transaction; what the outbox hands on after commit (also
    appended to `commits` by the listener itself, right after COMMIT returns)."""
    handed_on: list[outbox.CommittedEvent] = []

    def listener(committed: list[outbox.CommittedEvent]) -> None:
        handed_on.extend(committed)
        if commits is not None:
            commits.append(committed)

    async with database.session(write=True) as session:
        session.info["listeners"] = {outbox.EVENTS_COMMITTED: listener}
        for channel, message in events:
            outbox.record(session, channel, message)
        if before_commit is not None:  # runs after the outbox's own hook
            uow.before_commit(session, "test", before_commit)
        await uow.commit(session)
    return handed_on


async def stored(database: Database, channels: set[str]) -> dict[tuple[str, int], str]:
    async with database.session(write=False) as session:
        rows = await session.execute(
            select(Event.channel, Event.seq, Event.message).where(Event.channel.in_(channels))
        )
        return {(channel, seq): message for channel, seq, message in rows}


def expected(message: LoggedMessage, seq: int) -> str:
    return encode(message.model_copy(update={"seq": seq}))


tricky = st.text(alphabet=st.characters(codec="utf-8"), max_size=30) | st.sampled_from(
    ['"seq":0,', '{"seq":0,"data":', "\\", '","seq":1,"', "\u2028"]
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(titles=st.lists(tricky, min_size=1, max_size=4), content=tricky)
async def test_frames_are_the_message_with_its_seq_stored_and_handed_on_alike(
    app: FastAPI, titles: list[str], content: str
) -> None:
    database: Database = app.state.database
    tasks, inbox = f"workspace:{uuid.uuid4().hex}:tasks", f"user:{uuid.uuid4().hex}:notifications"
    messages: list[tuple[str, LoggedMessage]] = [(tasks, task_update(t, t)) for t in titles]
    messages += [
        (inbox, notification(content)),
        (inbox, NotificationRead(data=NotificationReadData(ids=[1, 2]))),
        (tasks, AccessRevoked(data=AccessChangeData(workspace_id=1, user_id=2))),
    ]
    first = await commit_events(database, messages[:1])
    assert [(e.channel, e.seq) for e in first] == [(tasks, 1)]

    handed_on = await commit_events(database, messages[1:])

    # Numbered per channel in the order recorded, after the channel's previous events.
    seqs: dict[str, int] = {tasks: 1, inbox: 0}
    want: dict[tuple[str, int], str] = {(tasks, 1): expected(messages[0][1], 1)}
    for channel, message in messages[1:]:
        seqs[channel] += 1
        want[(channel, seqs[channel])] = expected(message, seqs[channel])
    assert {(e.channel, e.seq): e.frame for e in first + handed_on} == want
    assert await stored(database, {tasks, inbox}) == want
    for frame in want.values():
        assert orjson.loads(frame)["seq"] >= 1


async def test_concurrent_writers_never_let_a_reader_see_a_gap(app: FastAPI) -> None:
    """NOTES-realtime, trap 1: a seq becomes visible only after every smaller one."""
    database: Database = app.state.database
    tasks, inbox = f"workspace:{uuid.uuid4().hex}:tasks", f"user:{uuid.uuid4().hex}:notifications"
    commits: list[list[outbox.CommittedEvent]] = []
    writers_done = asyncio.Event()
    snapshots = 0

    async def linger(_session: object) -> None:
        # Hold the channel locks a little before COMMIT, so that overtaking would show.
        await asyncio.sleep(random.uniform(0, 0.005))

    async def writer(i: int) -> None:
        await asyncio.sleep(random.uniform(0, 0.01))
        pair: list[tuple[str, LoggedMessage]] = [
            (tasks, task_update(f"change {i}")),
            (inbox, notification(f"change {i}")),
        ]
        # Channels recorded in either order: the outbox locks them sorted, so no deadlock.
        await commit_events(database, pair if i % 2 else pair[::-1], commits, linger)

    async def reader() -> None:
        nonlocal snapshots
        while not writers_done.is_set():
            visible = await stored(database, {tasks, inbox})
            for channel in (tasks, inbox):
                seqs = sorted(seq for c, seq in visible if c == channel)
                assert seqs == list(range(1, len(seqs) + 1)), f"{channel} shows a gap: {seqs}"
            snapshots += 1
            await asyncio.sleep(0)

    async def writers() -> None:
        await asyncio.gather(*(writer(i) for i in range(30)))
        writers_done.set()

    await asyncio.gather(reader(), writers())

    assert snapshots > 5
    rows = await stored(database, {tasks, inbox})
    assert sorted(rows) == sorted((c, seq) for c in (tasks, inbox) for seq in range(1, 31))
    assert {(e.channel, e.seq): e.frame for batch in commits for e in batch} == rows
    for (_, seq), frame in rows.items():
        assert orjson.loads(frame)["seq"] == seq


async def test_this_process_subscribers_have_a_commit_when_it_returns_broker_or_not(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Local delivery: no wait for the broker's round trip (here it loses everything)."""
    hub: Hub = app.state.hub
    channel = f"workspace:{uuid.uuid4().hex}:tasks"
    conn, writer = await live(hub, channel)

    async def lost(events: list[outbox.CommittedEvent]) -> None:
        pass

    monkeypatch.setattr(app.state.broker, "publish", lost)
    message = task_update("delivered by the commit itself")
    async with app.state.database.session(write=True) as session:
        outbox.record(session, channel, message)
        await uow.commit(session)  # nothing awaited after it: no broker, no other task
    assert writer.frames() == [text_frame(expected(message, 1))]
    hub.leave(conn)


async def test_a_failed_local_delivery_does_not_fail_the_committed_change(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    channel = f"workspace:{uuid.uuid4().hex}:tasks"

    def broken(events: list[outbox.CommittedEvent]) -> None:
        raise RuntimeError("hub bug")

    monkeypatch.setattr(app.state.relay, "deliver_locally", broken)
    async with app.state.database.session(write=True) as session:
        outbox.record(session, channel, task_update("committed all the same"))
        await uow.commit(session)
    assert list(await stored(app.state.database, {channel})) == [(channel, 1)]
    assert "local delivery of 1 committed events failed" in caplog.text


class Recorder:
    """A broker that records what it is given and acknowledges when the test says."""

    def __init__(self) -> None:
        self.published: list[list[tuple[str, int]]] = []
        self.acks: list[asyncio.Future[None]] = []

    def publish(self, events: list[outbox.CommittedEvent]) -> asyncio.Future[None]:
        self.published.append([(e.channel, e.seq) for e in events])
        self.acks.append(asyncio.get_running_loop().create_future())
        return self.acks[-1]


async def commit_one(app: FastAPI, channel: str, title: str) -> None:
    async with app.state.database.session(write=True) as session:
        outbox.record(session, channel, task_update(title))
        await uow.commit(session)


async def test_a_commit_is_published_before_commit_returns_and_one_publish_is_in_flight(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other processes' subscribers wait for the broker: the PUBLISH leaves as COMMIT
    returns, not when the request is done. While the broker has not acknowledged it, what
    commits goes out next, as one message."""
    broker = Recorder()
    monkeypatch.setattr(app.state.broker, "publish", broker.publish)
    channel = f"workspace:{uuid.uuid4().hex}:tasks"
    async with app.state.database.session(write=True) as session:
        outbox.record(session, channel, task_update("first"))
        await uow.commit(session)
        assert broker.published == [[(channel, 1)]]  # no loop turn since COMMIT returned
    await commit_one(app, channel, "second")
    await commit_one(app, channel, "third")
    assert broker.published == [[(channel, 1)]]
    broker.acks[0].set_result(None)
    await asyncio.sleep(0)  # the acknowledgement's callback
    assert broker.published == [[(channel, 1)], [(channel, 2), (channel, 3)]]
    broker.acks[1].set_exception(ConnectionError("lost"))  # left to the sweep
    await asyncio.sleep(0)
    await commit_one(app, channel, "fourth")
    assert broker.published[-1] == [(channel, 4)]
    broker.acks[2].set_result(None)
    await asyncio.wait_for(app.state.relay._drain(), 1)


@pytest.mark.scaled
async def test_a_new_connection_numbers_events_without_a_catalog_lookup(
    app: FastAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncpg knows few parameter types from the start (text[] is one of them; varchar[],
    bigint[] and boolean[] are not) and looks any other up once per connection, with a
    recursive catalog query that took 4-31 ms on the bench. The outbox's statement runs
    in every change: on a connection fresh from the pool, it must not need that lookup."""
    assert hasattr(asyncpg.Connection, "_introspect_types")  # what the spy below watches
    looked_up: list[list[int]] = []
    original = asyncpg.Connection._introspect_types

    async def spy(self: asyncpg.Connection, typeoids: Any, timeout: Any) -> Any:
        looked_up.append(sorted(typeoids))
        return await original(self, typeoids, timeout)

    monkeypatch.setattr(asyncpg.Connection, "_introspect_types", spy)
    database = Database(make_settings(tmp_path))  # a pool of its own: new connections
    tasks, inbox = f"workspace:{uuid.uuid4().hex}:tasks", f"user:{uuid.uuid4().hex}:notifications"
    last = AccessRevoked(data=AccessChangeData(workspace_id=1, user_id=2))
    try:
        async with database.session(write=True) as session:
            outbox.record(session, tasks, task_update("one"))
            outbox.record(session, inbox, notification("two"))
            outbox.record(session, tasks, last, final=True)
            await uow.commit(session)
        async with database.session(write=False) as session:
            rows = await session.execute(
                select(Event.channel, Event.seq, Event.final).where(
                    Event.channel.in_({tasks, inbox})
                )
            )
            numbered = sorted(map(tuple, rows))
        assert numbered == [(inbox, 1, False), (tasks, 1, False), (tasks, 2, True)]
    finally:
        await database.dispose()
    assert looked_up == []
