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

from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from onetask.db import uow
from onetask.db.models import ChannelHead, Event
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
    await session.execute(insert(Event), rows)
    listener: EventsCommitted | None = session.info.get("listeners", {}).get(EVENTS_COMMITTED)
    if listener is not None:
        uow.after_commit(session, lambda: listener(committed))


async def _advance_head(session: AsyncSession, channel: str, count: int, now: Any) -> int:
    dialect = session.get_bind().dialect.name
    upsert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(ChannelHead)
    statement = (
        upsert.values(channel=channel, last_seq=count, updated_at=now)
        .on_conflict_do_update(
            index_elements=[ChannelHead.channel],
            set_={"last_seq": ChannelHead.last_seq + count, "updated_at": now},
        )
        .returning(ChannelHead.last_seq)
    )
    return int((await session.execute(statement)).scalar_one())
