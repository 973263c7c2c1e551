"""Local channels → connections, fed by the broker, repaired from the event log.

Each channel keeps `head`, the last seq delivered to its local subscribers. A broker
message is delivered when it is the next seq, dropped when old, and held while the gap
before it is fetched from the log (NOTES-realtime, trap 3). A periodic head check notices
channels whose newest doorbell was lost. Joining subscribes first and replays the log
after (trap 4); the per-connection `last_seq` drops anything sent twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from sqlalchemy import select

from onetask.config import Settings
from onetask.db.engine import Database
from onetask.db.models import ChannelHead, Event
from onetask.events.channels import CONTROL
from onetask.events.messages import (
    Connected,
    ConnectedData,
    ResyncRequired,
    ResyncRequiredData,
    encode,
)
from onetask.events.outbox import CommittedEvent
from onetask.metrics import Metrics
from onetask.realtime.connection import Connection, framed

log = logging.getLogger("onetask.hub")
PAGE = 500
IDLE_DETAIL = "Nothing heard from you (no message, no answer to pings) for too long."
Confirm = Callable[[], Awaitable[None]]


class Channel:
    """Subscribers are in `conns`; each is also either in `sinks` (live and caught up:
    events are written to its transport by `Hub._flush` itself) or in `slow` (joining,
    ahead of this process, or without a raw transport: events go through `push`)."""

    __slots__ = (
        "busy_until",
        "conns",
        "fetching",
        "head",
        "name",
        "pending",
        "queued",
        "ready",
        "sinks",
        "slow",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.conns: set[Connection] = set()
        self.sinks: dict[Connection, asyncio.WriteTransport] = {}
        self.slow: set[Connection] = set()
        self.queued: list[bytes] = []  # frames for `sinks`, written once per loop turn
        self.busy_until = 0.0  # see Hub.on_local_commit
        self.head: int | None = None
        self.pending: dict[int, CommittedEvent] = {}
        self.fetching = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class Hub:
    def __init__(self, settings: Settings, database: Database, metrics: Metrics) -> None:
        self.settings = settings
        self.database = database
        self.metrics = metrics
        self.channels: dict[str, Channel] = {}
        self.connections: set[Connection] = set()
        self.by_user: dict[int, set[Connection]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._dirty: list[Channel] = []  # channels with frames queued for their sinks
        self._deferred: list[Channel] = []  # hot channels, written on the next loop turn

    async def start(self) -> None:
        control = self._open_channel(CONTROL)
        await asyncio.shield(control.ready)
        self._tasks = [
            asyncio.create_task(self._head_check_loop(), name="hub-head-check"),
            asyncio.create_task(self._expiry_loop(), name="hub-expiry"),
        ]

    async def stop(self, grace_s: float = 5.0) -> None:
        """Close every connection with 1001 after what is queued for it is sent."""
        for task in self._tasks:
            task.cancel()
        conns = list(self.connections)
        for conn in conns:
            conn.close(1001, "server_shutdown", "The server is restarting; reconnect with since.")
        await asyncio.gather(*(c.wait_closed(grace_s) for c in conns))

    # -- broker side -------------------------------------------------------------------

    def on_local_commit(self, events: list[CommittedEvent]) -> None:
        """This process's own commits, handed over by the relay as COMMIT returns.

        Written at once, unless the channel is hot: its last write to its sockets ended
        less than that write's own duration ago, i.e. it has spent half of its recent
        time writing. A hot channel's frames wait for the next loop turn, where the
        commits that land meanwhile join them: one write per socket for all of them, as
        a broker batch would have (under sustained load that halves the writes)."""
        self._receive(events, defer_hot=True)

    def on_events(self, events: list[CommittedEvent]) -> None:
        """Events from the broker, in the order it had them; written before returning,
        with one write per socket for all of a channel's events in `events`."""
        self._receive(events, defer_hot=False)

    def _receive(self, events: list[CommittedEvent], *, defer_hot: bool) -> None:
        try:
            for event in events:
                self._accept(event)
        finally:
            self._flush_dirty(defer_hot=defer_hot)

    def _accept(self, event: CommittedEvent) -> None:
        channel = self.channels.get(event.channel)
        if channel is None or (channel.head is not None and event.seq <= channel.head):
            return
        if channel.head is not None and event.seq == channel.head + 1 and not channel.pending:
            self._deliver(channel, event)
            return
        channel.pending[event.seq] = event
        if channel.head is not None:
            self._advance(channel)

    def on_broker_reconnect(self) -> None:
        """Anything published while the subscription was down is in the log."""
        for channel in self.channels.values():
            self._fetch_after_head(channel)

    def _advance(self, channel: Channel) -> None:
        assert channel.head is not None
        pending = channel.pending
        for seq in [s for s in pending if s <= channel.head]:
            del pending[seq]
        while channel.head + 1 in pending:
            self._deliver(channel, pending.pop(channel.head + 1))
        if pending:
            self._fetch_after_head(channel)

    def _deliver(self, channel: Channel, event: CommittedEvent) -> None:
        channel.head = event.seq
        if channel.name == CONTROL:
            self._apply_control(event.frame)
            return
        seq, frame = event.seq, event.frame
        sent = len(channel.sinks) + len(channel.slow)
        if channel.sinks:
            if not channel.queued:
                self._dirty.append(channel)
            channel.queued.append(framed(frame))
        if channel.slow:
            for conn in list(channel.slow):
                conn.push(seq, frame)
                self._promote(channel, conn)
        if event.final:
            for conn in list(channel.conns):
                conn.close(1000, None)
        self.metrics.inc("onetask_ws_messages_sent_total", "Frames queued to sockets", sent)

    def _flush_dirty(self, *, defer_hot: bool = False) -> None:
        dirty, self._dirty = self._dirty, []
        now = time.perf_counter()
        for channel in dirty:
            if defer_hot and now < channel.busy_until:
                if not self._deferred:
                    asyncio.get_running_loop().call_soon(self._flush_deferred)
                self._deferred.append(channel)
            else:
                self._flush(channel)

    def _flush_deferred(self) -> None:
        deferred, self._deferred = self._deferred, []
        for channel in deferred:
            self._flush(channel)

    def _flush(self, channel: Channel) -> None:
        """Write what was delivered to every caught-up subscriber: one event usually,
        several from one broker batch or a gap fill, and then still one write per socket."""
        queued = channel.queued
        if not queued:
            return
        started = time.perf_counter()
        data = queued[0] if len(queued) == 1 else b"".join(queued)
        channel.queued = []
        # The hot loop: the same bytes to every transport, no await, no call of ours.
        for sink in channel.sinks.values():
            if not sink.is_closing():
                sink.write(data)
        ended = time.perf_counter()
        channel.busy_until = ended + (ended - started)
        self.metrics.fanout.observe(ended - started)

    def _promote(self, channel: Channel, conn: Connection) -> None:
        """Move a live connection that has every seq up to the head onto the hot loop."""
        if conn.last_seq > (channel.head or 0) or conn not in channel.slow:
            return

        sink = conn.sink(self._detach)
        if sink is not None:
            self._flush(channel)  # it has those frames already
            channel.slow.discard(conn)
            channel.sinks[conn] = sink

    def _detach(self, conn: Connection) -> None:
        """Take a closing connection off the hot loop, after what it was delivered."""
        channel = self.channels.get(conn.channel)
        if channel is not None and conn in channel.sinks:
            self._flush(channel)
            del channel.sinks[conn]

    def _fetch_after_head(self, channel: Channel) -> None:
        if channel.fetching or channel.head is None:
            return
        channel.fetching = True
        self._spawn(self._fetch(channel), f"hub-fetch:{channel.name}")

    async def _fetch(self, channel: Channel) -> None:
        try:
            while channel.head is not None:
                rows = await self._read_log(channel.name, channel.head, PAGE)
                for row in rows:
                    if row.seq == channel.head + 1:
                        self._deliver(channel, row)
                    channel.pending.pop(row.seq, None)
                self._flush_dirty()
                if len(rows) < PAGE:
                    break
            self.metrics.inc("onetask_gap_fetches_total", "Gaps filled from the event log")
        except Exception:
            log.exception("could not fill a gap on %s; the head check retries", channel.name)
        finally:
            channel.fetching = False
        if channel.pending and channel.head is not None:
            self._advance(channel)
            self._flush_dirty()

    async def _read_log(self, name: str, after: int, limit: int) -> list[CommittedEvent]:
        query = (
            select(Event.seq, Event.message, Event.final)
            .where(Event.channel == name, Event.seq > after)
            .order_by(Event.seq)
            .limit(limit)
        )
        async with self.database.session(write=False) as session:
            rows = (await session.execute(query)).all()
        return [CommittedEvent(name, r.seq, r.message, r.final) for r in rows]

    async def _read_heads(self, names: Iterable[str]) -> dict[str, int]:
        names = list(names)
        heads: dict[str, int] = {}
        async with self.database.session(write=False) as session:
            for i in range(0, len(names), 500):
                query = select(ChannelHead.channel, ChannelHead.last_seq).where(
                    ChannelHead.channel.in_(names[i : i + 500])
                )
                heads.update({c: s for c, s in (await session.execute(query)).all()})
        return heads

    async def _head_check_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.head_check_interval_s)
            try:
                heads = await self._read_heads(self.channels)
            except Exception:
                log.warning("head check failed; retrying")
                continue
            for name, last in heads.items():
                channel = self.channels.get(name)
                if channel is not None and channel.head is not None and last > channel.head:
                    self._fetch_after_head(channel)

    # -- control channel ---------------------------------------------------------------

    def _apply_control(self, frame: str) -> None:
        message = orjson.loads(frame)
        data = message.get("data", {})
        workspace_id = data.get("workspace_id")
        # flush=False: what is still queued for them is no longer theirs to see.
        if message.get("type") == "access_revoked":
            for conn in list(self.by_user.get(data.get("user_id"), ())):
                if conn.workspace_id == workspace_id:
                    conn.close(4403, "access_revoked", "You are no longer a member.", flush=False)
        elif message.get("type") == "workspace_deleted":
            for conn in list(self.connections):
                if conn.workspace_id == workspace_id:
                    conn.close(4404, "not_found", "The workspace was deleted.", flush=False)
        elif message.get("type") == "api_token_revoked":
            token_id = data.get("token_id")
            for conn in list(self.by_user.get(data.get("user_id"), ())):
                if conn.token_id == token_id:
                    conn.close(4401, "token_revoked", "The API token was revoked.", flush=False)

    # -- connection side ---------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _open_channel(self, name: str) -> Channel:
        channel = self.channels.get(name)
        if channel is None:
            channel = self.channels[name] = Channel(name)
            self._spawn(self._initialize(channel), f"hub-init:{name}")
        return channel

    async def _initialize(self, channel: Channel) -> None:
        try:
            heads = await self._read_heads([channel.name])
        except Exception as exc:
            if self.channels.get(channel.name) is channel:
                del self.channels[channel.name]
            channel.ready.set_exception(exc)
            return
        channel.head = heads.get(channel.name, 0)
        channel.ready.set_result(None)
        if not channel.conns and channel.name != CONTROL:
            self.channels.pop(channel.name, None)  # everyone left while it initialized
            return
        self._advance(channel)
        self._flush_dirty()

    def user_connections(self, user_id: int) -> int:
        return len(self.by_user.get(user_id, ()))

    async def join(
        self,
        conn: Connection,
        since: int | None,
        confirm: Confirm | None = None,
        visible_after: int = 0,
    ) -> None:
        """Subscribe, `confirm` the connection may still listen, send `connected`, replay
        after `since` (but nothing up to `visible_after`), then go live.

        Authorization was read before the connection was subscribed: a revocation that
        committed in between was applied to every subscribed connection, but not to this
        one. `confirm` reads it again once the connection is subscribed, so a revocation
        is either seen by that read or committed after it, and then delivered to the
        connection as a control message. It raises to refuse the connection."""
        conn.on_slow = self._count_slow_consumer
        channel = self._open_channel(conn.channel)
        channel.conns.add(conn)
        channel.slow.add(conn)
        self.connections.add(conn)
        self.by_user.setdefault(conn.user_id, set()).add(conn)
        self.metrics.set(
            "onetask_ws_connections", "Open WebSocket connections", len(self.connections)
        )
        if confirm is not None:
            await confirm()
        await asyncio.shield(channel.ready)
        if conn.closing:  # revoked while being confirmed: nothing but the close is sent
            conn.start_writer()
            return
        await self._start(conn, channel, since, visible_after)
        conn.start_writer()
        self._promote(channel, conn)

    async def _start(
        self, conn: Connection, channel: Channel, since: int | None, visible_after: int
    ) -> None:
        """Send `connected` and what the client missed, and set where its stream starts.

        A `since` before `visible_after` asks for events its user may not see (from before
        they joined): `resync_required` instead, as for history that is no longer kept."""
        # From here on every seq above the channel's head reaches `conn` live, so the
        # head in memory is all a join needs: no database read, unless the client (or
        # the membership) has seen more than this process has (it was on a faster one).
        head = channel.head or 0
        if (since is None or since <= head) and visible_after <= head:
            await conn.send_now(self._connected(conn.channel, head))
            conn.last_seq = head
            if since is not None and since < visible_after:
                await conn.send_now(_resync("before_membership", since, head))
            elif since is not None and since < head:
                await self._replay(conn, since, head)
            return
        latest = (await self._read_heads([conn.channel])).get(conn.channel, 0)
        await conn.send_now(self._connected(conn.channel, latest))
        conn.last_seq = latest
        if since is not None and since > latest:
            await conn.send_now(_resync("ahead_of_server", since, latest))
        elif since is not None and since < visible_after:
            await conn.send_now(_resync("before_membership", since, latest))
        elif since is not None:
            conn.last_seq = since  # the rest arrives live once this process catches up
        self._fetch_after_head(channel)

    async def _replay(self, conn: Connection, since: int, latest: int) -> None:
        after = since
        while after < latest:
            rows = await self._read_log(conn.channel, after, PAGE)
            rows = [r for r in rows if r.seq <= latest]
            if not rows or rows[0].seq != after + 1:
                # Pruned: everything up to `latest` is now state to reload over REST.
                await conn.send_now(_resync("history_expired", since, latest))
                return
            for row in rows:
                if conn.closing:  # revoked meanwhile: what is left is not for it
                    return
                await conn.send_now(row.frame)
            after = rows[-1].seq

    def leave(self, conn: Connection) -> None:
        conn.stop_writer()
        self.connections.discard(conn)
        user_conns = self.by_user.get(conn.user_id)
        if user_conns is not None:
            user_conns.discard(conn)
            if not user_conns:
                del self.by_user[conn.user_id]
        channel = self.channels.get(conn.channel)
        if channel is not None:
            channel.conns.discard(conn)
            channel.slow.discard(conn)
            channel.sinks.pop(conn, None)
            if not channel.conns and channel.name != CONTROL and channel.ready.done():
                del self.channels[conn.channel]
        self.metrics.set(
            "onetask_ws_connections", "Open WebSocket connections", len(self.connections)
        )

    def _count_slow_consumer(self) -> None:
        self.metrics.inc(
            "onetask_ws_slow_consumer_closes_total",
            "Connections closed with 4508 because they fell behind",
        )

    def _connected(self, channel: str, seq: int) -> str:
        return encode(
            Connected(
                data=ConnectedData(
                    channel=channel,
                    seq=seq,
                    server_time=datetime.now(UTC),
                    heartbeat_s=self.settings.ws_heartbeat_s,
                    idle_timeout_s=self.settings.ws_idle_timeout_s,
                )
            )
        )

    # -- timeouts ----------------------------------------------------------------------

    async def _expiry_loop(self) -> None:
        """Once a second: 4401 for an expired token, 4408 for a peer not heard from (no
        message, no answer to a protocol ping: gone, asleep or frozen) for the idle
        timeout. A client that only listens answers pings and stays."""
        while True:
            await asyncio.sleep(1.0)
            now_wall, now = time.time(), time.monotonic()
            idle_after = self.settings.ws_idle_timeout_s
            for conn in list(self.connections):
                if conn.expires_at <= now_wall:
                    conn.close(
                        4401,
                        "token_expired",
                        'Your token expired; send {"type":"auth"} before it does.',
                    )
                elif now - conn.last_seen >= idle_after and not conn.heard_since(now - idle_after):
                    conn.close(4408, "idle_timeout", IDLE_DETAIL)


def _resync(
    reason: Literal["history_expired", "ahead_of_server", "before_membership"],
    since: int,
    latest: int,
) -> str:
    return encode(ResyncRequired(data=ResyncRequiredData(reason=reason, since=since, seq=latest)))
