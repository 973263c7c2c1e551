"""Record events inside the caller's transaction; hand them on only once it commits.

Each channel has a counter row. Just before commit, every pending event takes the next
`seq` of its channel with one upsert per channel (`... RETURNING last_seq`). The row lock
taken by that upsert is held until commit, so a channel's writers commit in `seq` order
and a resuming client can never skip an event (NOTES-realtime, trap 1). Channels are
locked in sorted order, so two transactions touching the same channels cannot deadlock,
and locks are held only for the final instant of the transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from sqlalchemy import Insert, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from onetask.db import uow
from onetask.db.models import Base, ChannelHead, Event
from onetask.db.types import utcnow
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
    channel: str
    message: LoggedMessage
    final: bool


def record(
    session: AsyncSession, channel: str, message: LoggedMessage, *, final: bool = False
) -> None:
    """Add `message` to `channel` when (and only if) the session's transaction commits.

    `final` marks the channel's last event: subscribers are closed with 1000 after it.
    """
    session.info.setdefault("outbox", []).append(_Pending(channel, message, final))
    uow.before_commit(session, "outbox", _write_pending)


async def _write_pending(session: AsyncSession) -> None:
    pending: list[_Pending] = session.info.pop("outbox", [])
    if not pending:
        return
    # The change's own rows first (the ORM upserts used to autoflush; Core ones do not):
    # the channel locks stay the last ones the transaction takes.
    await session.flush()
    now = utcnow()
    committed: list[CommittedEvent] = []
    rows: list[dict[str, Any]] = []
    ordered = sorted(pending, key=lambda p: p.channel)  # stable: keeps order within a channel
    for channel, group in groupby(ordered, key=lambda p: p.channel):
        events = list(group)
        last = await _advance_head(session, channel, len(events), now)
        for seq, event in enumerate(events, start=last - len(events) + 1):
            frame = encode(event.message.model_copy(update={"seq": seq}))
            rows.append(
                {
                    "channel": channel,
                    "seq": seq,
                    "message": frame,
                    "final": event.final,
                    "created_at": now,
                }
            )
            committed.append(CommittedEvent(channel, seq, frame, event.final))
    await session.execute(_EVENTS.insert(), rows)
    listener: EventsCommitted | None = session.info.get("listeners", {}).get(EVENTS_COMMITTED)
    if listener is not None:
        uow.after_commit(session, lambda: listener(committed))


async def _advance_head(session: AsyncSession, channel: str, count: int, now: Any) -> int:
    statement = _ADVANCE_HEAD[session.get_bind().dialect.name]
    params = {"head_channel": channel, "head_count": count, "head_now": now}
    return int((await session.execute(statement, params)).scalar_one())


# Core statements on the tables (no ORM objects come back), with bound parameters so the
# upsert is built once per dialect rather than once per channel per commit.
_HEADS = Base.metadata.tables[ChannelHead.__tablename__]
_EVENTS = Base.metadata.tables[Event.__tablename__]


def _advance_head_statement(dialect: str) -> Insert:
    """`INSERT … ON CONFLICT DO UPDATE … RETURNING last_seq`, as one upsert per channel."""
    heads = _HEADS.c
    count = bindparam("head_count", type_=heads.last_seq.type)
    now = bindparam("head_now", type_=heads.updated_at.type)
    upsert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_HEADS)
    return (
        upsert.values(
            channel=bindparam("head_channel", type_=heads.channel.type),
            last_seq=count,
            updated_at=now,
        )
        .on_conflict_do_update(
            index_elements=[heads.channel],
            set_={"last_seq": heads.last_seq + count, "updated_at": now},
        )
        .returning(heads.last_seq)
    )


_ADVANCE_HEAD = {name: _advance_head_statement(name) for name in ("postgresql", "sqlite")}
