"""The broker carries committed events between processes. It is a doorbell, not the
record: a lost or reordered message is repaired by the hub from the event log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from onetask.events.outbox import CommittedEvent

log = logging.getLogger("onetask.broker")

OnEvents = Callable[[list[CommittedEvent]], None]
OnReconnect = Callable[[], None]
_SEP = "\x1f"  # between an event's fields
_RECORD = "\x1e"  # between events; JSON text escapes both, so no frame contains them
BATCH = 100  # events per broker message at most


class Broker(Protocol):
    async def start(self, on_events: OnEvents, on_reconnect: OnReconnect) -> None: ...
    async def publish(self, events: list[CommittedEvent]) -> None: ...
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
    """One process: publishing is calling the subscriber."""

    def __init__(self) -> None:
        self._on_events: OnEvents | None = None

    async def start(self, on_events: OnEvents, on_reconnect: OnReconnect) -> None:
        self._on_events = on_events

    async def publish(self, events: list[CommittedEvent]) -> None:
        if self._on_events is not None:
            self._on_events(events)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._on_events = None


class RedisBroker:
    """Every process subscribes to one Redis channel and sees every event."""

    def __init__(self, url: str, topic: str) -> None:
        self.redis: Redis = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self.topic = topic
        self._listener: asyncio.Task[None] | None = None

    async def start(self, on_events: OnEvents, on_reconnect: OnReconnect) -> None:
        ready = asyncio.get_running_loop().create_future()
        self._listener = asyncio.create_task(self._listen(on_events, on_reconnect, ready))
        await asyncio.wait_for(asyncio.shield(ready), timeout=10)

    async def publish(self, events: list[CommittedEvent]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for i in range(0, len(events), BATCH):
                pipe.publish(self.topic, pack_batch(events[i : i + BATCH]))
            await pipe.execute()

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        await self.redis.aclose()

    async def _listen(
        self, on_events: OnEvents, on_reconnect: OnReconnect, ready: asyncio.Future[None]
    ) -> None:
        backoff = 0.1
        first = True
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.topic)
                if first:
                    ready.set_result(None)
                    first = False
                else:
                    log.info("broker subscription restored")
                    on_reconnect()  # anything published meanwhile is fetched from the log
                backoff = 0.1
                while True:
                    message = await pubsub.get_message(timeout=5.0)
                    if message is not None:
                        data = message["data"]
                        on_events(unpack_batch(data.decode() if isinstance(data, bytes) else data))
            except asyncio.CancelledError:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
                raise
            except (RedisError, OSError) as exc:
                log.warning("broker subscription lost (%s); retrying", type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]


def create_broker(url: str, namespace: str) -> Broker:
    if url.startswith("memory://"):
        return MemoryBroker()
    # ".v2": a message holds a batch of events; processes of a release that published one
    # event per message listen elsewhere and catch up from the log (the head check).
    return RedisBroker(url, f"{namespace}:events.v2")
