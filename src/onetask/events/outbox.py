"""Record events inside the caller's transaction; hand them on only once it commits.

Each channel has a counter row. Just before commit, the pending events take the next
`seq`s of their channels by upserting those rows (`... RETURNING last_seq`).
The row lock taken by that upsert is held until commit, so a channel's writers commit in
`seq` order and a resuming client can never skip an event (NOTES-realtime, trap 1).
Channels are locked in sorted order, so two transactions touching the same channels
cannot deadlock. Locks are held only for the final instant of the transaction: on
PostgreSQL the upsert and the events' insert are one statement, so COMMIT is the only
other round trip made while they are held.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from itertools import groupby
from typing import Any

from sqlalchemy import TextClause, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from onetask.db import uow
from onetask.db.models import Base, ChannelHead, Event
from onetask.db.types import UTCDateTime, utcnow
from onetask.events.messages import LoggedMessage, encode

EVENTS_COMMITTED = "events_committed"


@dataclass(frozen=True, slots=True)
class CommittedEvent:
    channel: str
    seq: int
    frame: str
    final: bool = False


EventsCommitted = Callable[[list[CommittedEvent]], None]


@dataclass(slots=True)
class _Pending:
    """An event's frame, encoded once, split around its `seq` (known only at commit)."""

    channel: str
    head: str
    tail: str
    final: bool


_SEQ = '"seq":0,'


def record(
    session: AsyncSession, channel: str, message: LoggedMessage, *, final: bool = False
) -> None:
    """Add `message` to `channel` when (and only if) the session's transaction commits.

    `final` marks the channel's last event: subscribers are closed with 1000 after it.
    """
    # Every logged message starts {"type":…,["action":…,]"seq":0,"data":…}: the first
    # `"seq":0,` is the top-level one, and the frame is the same with any seq put there.
    before, found, after = encode(message).partition(_SEQ)
    if not found:
        raise ValueError(f"{type(message).__name__} has no top-level seq to number")
    pending = _Pending(channel, before + '"seq":', "," + after, final)
    session.info.setdefault("outbox", []).append(pending)
    uow.before_commit(session, "outbox", _write_pending)


async def last_seq(session: AsyncSession, channel: str) -> int:
    """The channel's newest seq (0 before its first event), as the line between what
    committed before this transaction and what commits after it.

    On PostgreSQL the head row is share-locked until this transaction ends: a writer that
    holds it commits first (and is read), and the next ones wait. SQLite's write
    transaction already excludes every other writer."""
    query = select(ChannelHead.last_seq).where(ChannelHead.channel == channel)
    query = query.with_for_update(read=True)
    return (await session.execute(query)).scalar_one_or_none() or 0


async def _write_pending(session: AsyncSession) -> None:
    pending: list[_Pending] = session.info.pop("outbox", [])
    if not pending:
        return
    # The change's own rows first (the ORM upserts used to autoflush; Core ones do not):
    # the channel locks stay the last ones the transaction takes.
    await session.flush()
    ordered = sorted(pending, key=lambda p: p.channel)  # stable: keeps order within a channel
    groups = [(channel, list(group)) for channel, group in groupby(ordered, lambda p: p.channel)]
    append = (
        _append_postgresql if session.get_bind().dialect.name == "postgresql" else _append_sqlite
    )
    committed = await append(session, groups, utcnow())
    listener: EventsCommitted | None = session.info.get("listeners", {}).get(EVENTS_COMMITTED)
    if listener is not None:
        uow.after_commit(session, lambda: listener(committed))


Groups = list[tuple[str, list[_Pending]]]


def _numbered(groups: Groups, last: dict[str, int]) -> list[CommittedEvent]:
    """Each channel's events take the seqs up to its new head, in the order recorded."""
    return [
        CommittedEvent(channel, seq, f"{event.head}{seq}{event.tail}", event.final)
        for channel, events in groups
        for seq, event in enumerate(events, start=last[channel] - len(events) + 1)
    ]


async def _append_postgresql(
    session: AsyncSession, groups: Groups, now: datetime
) -> list[CommittedEvent]:
    """Advance every head and insert every event in one statement: one round trip while
    the head locks are held, then COMMIT. The frames are spliced in SQL as in
    `_numbered`, which builds the same ones here."""
    params: dict[str, Any] = {
        "now": now,
        "channels": [channel for channel, _ in groups],
        "counts": [str(len(events)) for _, events in groups],
        "event_channels": [],
        "backs": [],
        "heads": [],
        "tails": [],
        "finals": [],
    }
    for channel, events in groups:
        for back, event in zip(range(len(events) - 1, -1, -1), events, strict=True):
            params["event_channels"].append(channel)
            params["backs"].append(str(back))
            params["heads"].append(event.head)
            params["tails"].append(event.tail)
            params["finals"].append("t" if event.final else "f")
    last: dict[str, int] = {}
    for channel, seq in await session.execute(_APPEND_POSTGRESQL, params):
        last[channel] = max(seq, last.get(channel, 0))
    return _numbered(groups, last)


async def _append_sqlite(
    session: AsyncSession, groups: Groups, now: datetime
) -> list[CommittedEvent]:
    """Advance the heads with one prebuilt upsert per batch of channels, then insert the
    events (SQLite has no DML in a WITH; its statements make no round trip, and its
    writers are serialized anyway)."""
    last: dict[str, int] = {}
    for start in range(0, len(groups), _HEADS_PER_UPSERT):
        batch = groups[start : start + _HEADS_PER_UPSERT]
        params: dict[str, Any] = {"now": now}
        for i, (channel, events) in enumerate(batch):
            params[f"channel_{i}"] = channel
            params[f"count_{i}"] = len(events)
        result = await session.execute(_advance_heads_sqlite(len(batch)), params)
        for channel, seq in result:
            last[channel] = seq
    committed = _numbered(groups, last)
    rows = [
        {
            "channel": c.channel,
            "seq": c.seq,
            "message": c.frame,
            "final": c.final,
            "created_at": now,
        }
        for c in committed
    ]
    await session.execute(_EVENTS.insert(), rows)
    return committed


_HEADS = Base.metadata.tables[ChannelHead.__tablename__]
_EVENTS = Base.metadata.tables[Event.__tablename__]

# Heads are upserted in channel order (the SELECT's ORDER BY is the order the rows are
# inserted, hence locked), so two transactions touching the same channels cannot deadlock.
#
# Every array parameter is sent as TEXT[] and cast in SQL. asyncpg knows the text[]
# codec from the start; any other array type it looks up in the catalog once per
# connection, with a recursive query that took 4-31 ms here, inside the first change
# each pool connection made (realtime/test_outbox.py checks that none is made).
_APPEND_POSTGRESQL = text(
    """
    WITH heads AS (
        INSERT INTO channel_heads AS h (channel, last_seq, updated_at)
        SELECT c.channel, CAST(c.count AS BIGINT), :now
        FROM unnest(CAST(:channels AS TEXT[]), CAST(:counts AS TEXT[])) AS c(channel, count)
        ORDER BY c.channel
        ON CONFLICT (channel) DO UPDATE
            SET last_seq = h.last_seq + excluded.last_seq, updated_at = excluded.updated_at
        RETURNING h.channel, h.last_seq
    )
    INSERT INTO events (channel, seq, message, final, created_at)
    SELECT e.channel, heads.last_seq - CAST(e.back AS BIGINT),
           e.head || CAST(heads.last_seq - CAST(e.back AS BIGINT) AS TEXT) || e.tail,
           CAST(e.final AS BOOLEAN), :now
    FROM unnest(
        CAST(:event_channels AS TEXT[]), CAST(:backs AS TEXT[]),
        CAST(:heads AS TEXT[]), CAST(:tails AS TEXT[]), CAST(:finals AS TEXT[])
    ) AS e(channel, back, head, tail, final)
    JOIN heads ON heads.channel = e.channel
    RETURNING events.channel, events.seq
    """
).bindparams(bindparam("now", type_=UTCDateTime()))


_HEADS_PER_UPSERT = 50  # 100 parameters and `now`, well under SQLite's limit


@cache
def _advance_heads_sqlite(n: int) -> TextClause:
    """`INSERT … VALUES (channel, count, now), … ON CONFLICT DO UPDATE … RETURNING`,
    built once for each number of channels (a task change has 1-3). As text: SQLAlchemy
    compiles a multi-row `insert().values()` again on every execution."""
    rows = ", ".join(f"(:channel_{i}, :count_{i}, :now)" for i in range(n))
    return text(
        f"""
        INSERT INTO channel_heads (channel, last_seq, updated_at) VALUES {rows}
        ON CONFLICT (channel) DO UPDATE
            SET last_seq = channel_heads.last_seq + excluded.last_seq,
                updated_at = excluded.updated_at
        RETURNING channel, last_seq
        """
    ).bindparams(bindparam("now", type_=UTCDateTime()))
