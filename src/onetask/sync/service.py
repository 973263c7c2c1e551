"""Delta sync: what changed in every workspace of the caller since a cursor.

Built on the event log: the cursor holds, per workspace, the seq of the workspace
channel up to which the client is current. For each workspace the events after it are
read, collapsed to the entities they name (see `kinds`), and those entities' current
rows are returned (or tombstones). The channel's head is read first and the cursor moves
to it at most: a seq is handed out under the channel's head lock and commits in seq
order (NOTES-realtime, trap 1), so every event up to a head that was read has committed,
and a change committing meanwhile has a later seq, reported next time. Rows read may be
newer than the cursor: the next sync sends those entities again, which is harmless.

A workspace the client has never synced, joined since, or whose history was pruned past
its cursor, gets a full snapshot (`resets`), paged like the rest; its cursor then
becomes the head read when the snapshot began, so what changed during it comes after.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from onetask.cursors import decode_cursor, encode_cursor, malformed
from onetask.db.models import ChannelHead, Event, Membership
from onetask.events.channels import workspace_channel
from onetask.sync.kinds import KINDS
from onetask.sync.schemas import SyncItem, SyncPage

EVENT_PAGE = 500
Key = tuple[int, int]  # (index in KINDS, id)


@dataclass(slots=True)
class Snap:
    """A snapshot in progress: the head when it began, the kind and id it reached."""

    head: int
    kind: int = 0
    after: int = 0


Position = int | Snap  # a seq the client is current to, or a snapshot in progress


@dataclass(slots=True)
class Cursor:
    user_id: int
    positions: dict[int, Position] = field(default_factory=dict)


def parse_cursor(raw: str | None, user_id: int) -> Cursor:
    if raw is None:
        return Cursor(user_id)
    payload = decode_cursor(raw)
    if (
        payload.get("v") != 1
        or payload.get("u") != user_id
        or not isinstance(payload.get("w"), dict)
    ):
        raise malformed()
    positions: dict[int, Position] = {}
    for key, value in payload["w"].items():
        if not key.isdigit() or len(key) > 18:
            raise malformed()
        positions[int(key)] = _position(value)
    return Cursor(user_id, positions)


def _position(value: Any) -> Position:
    if _is_seq(value):
        return int(value)
    if (
        isinstance(value, list)
        and len(value) == 3
        and all(_is_seq(v) for v in value)
        and value[1] < len(KINDS)
    ):
        return Snap(*value)
    raise malformed()


def _is_seq(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**62


def encode(cursor: Cursor) -> str:
    positions = {
        str(w): ([p.head, p.kind, p.after] if isinstance(p, Snap) else p)
        for w, p in sorted(cursor.positions.items())
    }
    return encode_cursor({"v": 1, "u": cursor.user_id, "w": positions})


@dataclass(slots=True)
class _Page:
    budget: int
    items: list[SyncItem] = field(default_factory=list)
    resets: list[int] = field(default_factory=list)
    has_more: bool = False


async def sync(session: AsyncSession, cursor: Cursor, limit: int) -> SyncPage:
    joined = await _memberships(session, cursor.user_id)
    heads = await _heads(session, list(joined))
    page = _Page(limit)
    after = Cursor(cursor.user_id)
    for workspace_id in sorted(set(cursor.positions) - set(joined)):
        if page.budget == 0:  # reported on the next page
            after.positions[workspace_id] = cursor.positions[workspace_id]
            page.has_more = True
            continue
        page.items.append(
            SyncItem(
                kind="workspace",
                id=workspace_id,
                workspace_id=workspace_id,
                deleted=True,
                data=None,
            )
        )
        page.budget -= 1
    for workspace_id in sorted(joined):
        position = cursor.positions.get(workspace_id)
        moved = await _workspace(
            session, page, workspace_id, position, heads.get(workspace_id, 0), joined[workspace_id]
        )
        if moved is not None:
            after.positions[workspace_id] = moved
    return SyncPage(
        items=page.items, resets=page.resets, cursor=encode(after), has_more=page.has_more
    )


async def _workspace(
    session: AsyncSession,
    page: _Page,
    workspace_id: int,
    position: Position | None,
    head: int,
    joined_seq: int,
) -> Position | None:
    """Report one workspace's changes within the page's budget; its new position."""
    if page.budget == 0:
        page.has_more = True
        return position
    if isinstance(position, int) and joined_seq <= position <= head:
        if position == head:
            return position
        moved = await _changes(session, page, workspace_id, position, head)
        if moved is not None:
            return moved
        position = None  # history pruned past the cursor
    if isinstance(position, Snap) and not joined_seq <= position.head <= head:
        position = None  # rejoined, or the database was restored, since the snapshot began
    if not isinstance(position, Snap):
        position = Snap(head)
        page.resets.append(workspace_id)
    return await _snapshot(session, page, workspace_id, position)


async def _changes(
    session: AsyncSession, page: _Page, workspace_id: int, after: int, head: int
) -> int | None:
    """The entities named by the events after `after`, up to `head` and within the budget:
    the seq reached, or None when the event after `after` was pruned."""
    channel = workspace_channel(workspace_id)
    keys: dict[Key, None] = {}
    reached = after
    while reached < head:
        query = (
            select(Event.seq, Event.message)
            .where(Event.channel == channel, Event.seq > reached, Event.seq <= head)
            .order_by(Event.seq)
            .limit(EVENT_PAGE)
        )
        rows = (await session.execute(query)).all()
        if reached == after and (not rows or rows[0].seq != after + 1):
            return None
        full = False
        for seq, message in rows:
            named = [k for k in _named(orjson.loads(message)) if k not in keys]
            if keys and len(keys) + len(named) > page.budget:
                full = True
                break
            keys.update(dict.fromkeys(named))
            reached = seq
        if full or len(rows) < EVENT_PAGE:
            break
    page.budget = max(0, page.budget - len(keys))
    page.has_more = page.has_more or reached < head
    await _load(session, page, workspace_id, keys)
    return reached


def _named(message: dict[str, Any]) -> list[Key]:
    return [(index, i) for index, kind in enumerate(KINDS) for i in kind.ids_in(message)]


async def _load(
    session: AsyncSession, page: _Page, workspace_id: int, keys: dict[Key, None]
) -> None:
    for index, kind in enumerate(KINDS):
        ids = [i for k, i in keys if k == index]
        if not ids:
            continue
        rows = await kind.load(session, workspace_id, ids)
        for i in ids:
            data = rows.get(i)
            page.items.append(
                SyncItem(
                    kind=kind.name, id=i, workspace_id=workspace_id, deleted=data is None, data=data
                )
            )


async def _snapshot(session: AsyncSession, page: _Page, workspace_id: int, snap: Snap) -> Position:
    while snap.kind < len(KINDS):
        if page.budget == 0:
            page.has_more = True
            return snap
        kind = KINDS[snap.kind]
        rows = await kind.snapshot(session, workspace_id, snap.after, page.budget + 1)
        for i, data in rows[: page.budget]:
            page.items.append(
                SyncItem(kind=kind.name, id=i, workspace_id=workspace_id, deleted=False, data=data)
            )
        if len(rows) > page.budget:
            snap = Snap(snap.head, snap.kind, rows[page.budget - 1][0])
            page.budget = 0
            page.has_more = True
            return snap
        page.budget -= len(rows)
        snap = Snap(snap.head, snap.kind + 1, 0)
    return snap.head


async def _memberships(session: AsyncSession, user_id: int) -> dict[int, int]:
    query = select(Membership.workspace_id, Membership.joined_seq).where(
        Membership.user_id == user_id
    )
    return {w: s for w, s in (await session.execute(query)).all()}


async def _heads(session: AsyncSession, workspace_ids: list[int]) -> dict[int, int]:
    names = {workspace_channel(w): w for w in workspace_ids}
    heads: dict[int, int] = {}
    channels = list(names)
    for start in range(0, len(channels), 500):
        query = select(ChannelHead.channel, ChannelHead.last_seq).where(
            ChannelHead.channel.in_(channels[start : start + 500])
        )
        heads.update({names[c]: s for c, s in (await session.execute(query)).all()})
    return heads
