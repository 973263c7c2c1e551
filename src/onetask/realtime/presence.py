"""Who has a socket open where: per-user presence counts shared by every process.

Presence is per user, not per socket (NOTES-realtime, trap 7): each open socket adds one
entry under (room, user); a user is present while any entry is. In the embedded mode the
entries live in this process. In the scaled mode they live in Redis, one sorted set per
(room, user) whose members are socket ids scored by an expiry time that the process
holding the socket keeps pushing forward; a process that dies leaves entries that simply
expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("onetask.presence")


class Presence(Protocol):
    # How long an entry outlives a process that died holding it (None: entries cannot).
    entry_ttl_s: float | None

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def arrive(self, room: str, user_id: int, socket_id: str) -> None: ...
    async def depart(self, room: str, user_id: int, socket_id: str) -> None: ...
    async def count(self, room: str, user_id: int) -> int: ...


class MemoryPresence:
    """One process holds every socket."""

    entry_ttl_s: float | None = None

    def __init__(self) -> None:
        self._entries: dict[tuple[str, int], set[str]] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._entries.clear()

    async def arrive(self, room: str, user_id: int, socket_id: str) -> None:
        self._entries.setdefault((room, user_id), set()).add(socket_id)

    async def depart(self, room: str, user_id: int, socket_id: str) -> None:
        entries = self._entries.get((room, user_id))
        if entries is not None:
            entries.discard(socket_id)
            if not entries:
                del self._entries[(room, user_id)]

    async def count(self, room: str, user_id: int) -> int:
        return len(self._entries.get((room, user_id), ()))


class RedisPresence:
    """Entries in Redis with a TTL refreshed while the socket is open."""

    def __init__(self, url: str, namespace: str, ttl_s: float = 30.0) -> None:
        self.redis: Redis = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self.prefix = f"{namespace}:presence"
        self.ttl_s = ttl_s
        self.entry_ttl_s: float | None = ttl_s
        self._local: dict[str, set[str]] = {}  # key -> socket ids held by this process
        self._refresher: asyncio.Task[None] | None = None

    def _key(self, room: str, user_id: int) -> str:
        return f"{self.prefix}:{room}:{user_id}"

    async def start(self) -> None:
        self._refresher = asyncio.create_task(self._refresh_loop(), name="presence-refresh")

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
        await self.redis.aclose()

    async def arrive(self, room: str, user_id: int, socket_id: str) -> None:
        key = self._key(room, user_id)
        self._local.setdefault(key, set()).add(socket_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {socket_id: time.time() + self.ttl_s})
            pipe.expire(key, int(self.ttl_s * 2))
            await pipe.execute()

    async def depart(self, room: str, user_id: int, socket_id: str) -> None:
        key = self._key(room, user_id)
        held = self._local.get(key)
        if held is not None:
            held.discard(socket_id)
            if not held:
                del self._local[key]
        await self.redis.zrem(key, socket_id)

    async def count(self, room: str, user_id: int) -> int:
        return int(await self.redis.zcount(self._key(room, user_id), time.time(), "+inf"))

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            with contextlib.suppress(RedisError, OSError):
                await self._refresh()

    async def _refresh(self) -> None:
        expires = time.time() + self.ttl_s
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, socket_ids in list(self._local.items()):
                pipe.zadd(key, dict.fromkeys(socket_ids, expires), xx=True)
                pipe.zremrangebyscore(key, "-inf", time.time())
                pipe.expire(key, int(self.ttl_s * 2))
            await pipe.execute()


def create_presence(broker_url: str, namespace: str) -> Presence:
    if broker_url.startswith("memory://"):
        return MemoryPresence()
    return RedisPresence(broker_url, namespace)
