"""The broker carries committed events between processes. It is a doorbell, not the
record: a lost or reordered message is repaired by the hub from the event log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from onetask.events.outbox import CommittedEvent
from onetask.realtime import resp

log = logging.getLogger("onetask.broker")

OnEvents = Callable[[list[CommittedEvent]], None]
OnReconnect = Callable[[], None]
_SEP = "\x1f"  # between an event's fields
_RECORD = "\x1e"  # between events; JSON text escapes both, so no frame contains them
BATCH = 100  # events per broker message at most
HEALTH_CHECK_S = 5.0  # the subscription is pinged this often


class Broker(Protocol):
    async def start(self, on_events: OnEvents, on_reconnect: OnReconnect) -> None: ...

    def publish(self, events: list[CommittedEvent]) -> Awaitable[Any]:
        """Send `events` now, without waiting; the awaitable completes when the broker
        has them, and raises if it could not take them."""
        ...

    async def ping(self) -> bool: ...
    async def close(self) -> None: ...


def pack(event: CommittedEvent) -> str:
    return _SEP.join((event.channel, str(event.seq), "1" if event.final else "0", event.frame))


def unpack(raw: str) -> CommittedEvent:
    channel, seq, final, frame = raw.split(_SEP, 3)
    return CommittedEvent(channel, int(seq), frame, final == "1")


def pack_batch(events: list[CommittedEvent]) -> str:
    return _RECORD.join(pack(e) for e in events)


def unpack_batch(raw: str) -> list[CommittedEvent]:
    return [unpack(record) for record in raw.split(_RECORD)]


class MemoryBroker:
    """One process: publishing is calling the subscriber, one loop turn later (the relay
    has handed the events to this process's hub already; these copies are dropped)."""

    def __init__(self) -> None:
        self._on_events: OnEvents | None = None

    async def start(self, on_events: OnEvents, on_reconnect: OnReconnect) -> None:
        self._on_events = on_events

    def publish(self, events: list[CommittedEvent]) -> Awaitable[None]:
        loop = asyncio.get_running_loop()
        if self._on_events is not None:
            loop.call_soon(self._on_events, events)
        done: asyncio.Future[None] = loop.create_future()
        done.set_result(None)
        return done

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._on_events = None


class RedisBroker:
    """Every process subscribes to one Redis channel and sees every event.

    Both of its connections speak RESP themselves (`resp.py`): `publish` has written the
    PUBLISH when it returns, and a message is handed to the hub from the subscriber
    socket's `data_received`, with no task in between on either side. The subscriber
    pings Redis every `HEALTH_CHECK_S`, so a Redis that stops answering without closing
    the connection is noticed too."""

    def __init__(self, url: str, topic: str) -> None:
        self.address = resp.Address.from_url(url)
        self.topic = topic.encode()
        self._publisher: resp.Connection | None = None
        self._connecting = asyncio.Lock()
        self._listener: asyncio.Task[None] | None = None

    async def start(self, on_events: OnEvents, on_reconnect: OnReconnect) -> None:
        ready = asyncio.get_running_loop().create_future()
        self._listener = asyncio.create_task(self._listen(on_events, on_reconnect, ready))
        await asyncio.wait_for(asyncio.shield(ready), timeout=10)
        try:  # now, so that the first commit's PUBLISH is written as it returns
            await self._connection()
        except (OSError, resp.RespError) as exc:  # the first publish connects
            log.warning("broker publisher not connected yet (%s)", type(exc).__name__)

    def publish(self, events: list[CommittedEvent]) -> Awaitable[Any]:
        messages = [
            pack_batch(events[i : i + BATCH]).encode() for i in range(0, len(events), BATCH)
        ]
        conn = self._publisher
        if conn is None or not conn.usable:  # (re)connect first, off the caller's path
            return asyncio.ensure_future(self._publish_connected(messages))
        return self._send(conn, messages)

    async def ping(self) -> bool:
        try:
            conn = await self._connection()
            return bool(await conn.request(b"PING") == b"PONG")
        except (OSError, resp.RespError):  # refused, lost, timed out (all OSErrors), NOAUTH
            return False

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        if self._publisher is not None:
            self._publisher.close()

    def _send(self, conn: resp.Connection, messages: list[bytes]) -> Awaitable[Any]:
        acks = [conn.request(b"PUBLISH", self.topic, message) for message in messages]
        return acks[0] if len(acks) == 1 else asyncio.gather(*acks)

    async def _publish_connected(self, messages: list[bytes]) -> None:
        await self._send(await self._connection(), messages)

    async def _connection(self) -> resp.Connection:
        async with self._connecting:
            conn = self._publisher
            if conn is None or not conn.usable:
                conn = self._publisher = await resp.connect(self.address)
            return conn

    async def _listen(
        self, on_events: OnEvents, on_reconnect: OnReconnect, ready: asyncio.Future[None]
    ) -> None:
        def on_message(data: bytes) -> None:
            try:
                on_events(unpack_batch(data.decode()))
            except Exception:  # the head check finds what this message would have delivered
                log.exception("could not deliver a broker message")

        backoff = 0.1
        while True:
            conn: resp.Connection | None = None
            try:
                conn = await resp.connect(self.address, on_message)
                await conn.request(b"SUBSCRIBE", self.topic)
                if not ready.done():
                    ready.set_result(None)
                else:
                    log.info("broker subscription restored")
                    on_reconnect()  # anything published meanwhile is fetched from the log
                backoff = 0.1
                while not conn.closed.done():
                    try:
                        await asyncio.wait_for(asyncio.shield(conn.closed), HEALTH_CHECK_S)
                    except TimeoutError:
                        await conn.request(b"PING")  # unanswered: the connection is closed
                log.warning("broker subscription lost; retrying")
            except (OSError, resp.RespError) as exc:
                log.warning("broker subscription lost (%s); retrying", type(exc).__name__)
            finally:
                if conn is not None:
                    conn.close()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)


def create_broker(url: str, namespace: str) -> Broker:
    if url.startswith("memory://"):
        return MemoryBroker()
    # ".v2": a message holds a batch of events; processes of a release that published one
    # event per message listen elsewhere and catch up from the log (the head check).
    return RedisBroker(url, f"{namespace}:events.v2")
