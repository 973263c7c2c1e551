"""Counting failed logins per account and per client address, in a sliding window.

In-process for the embedded mode; in Redis when several processes share the load, so a
guesser cannot multiply the budget by spreading attempts over processes.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Protocol

from redis.asyncio import Redis


class FailureCounter(Protocol):
    async def count(self, key: str) -> tuple[int, int]:
        """(failures in the window, seconds until the oldest one leaves it)."""
        ...

    async def add(self, key: str) -> None: ...

    async def close(self) -> None: ...


class MemoryFailureCounter:
    def __init__(self, window_s: int) -> None:
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}

    def _live(self, key: str) -> deque[float]:
        stamps = self._failures.setdefault(key, deque())
        horizon = time.monotonic() - self.window_s
        while stamps and stamps[0] < horizon:
            stamps.popleft()
        if not stamps:
            del self._failures[key]
            return deque()
        return stamps

    async def count(self, key: str) -> tuple[int, int]:
        stamps = self._live(key)
        if not stamps:
            return 0, 0
        return len(stamps), int(stamps[0] + self.window_s - time.monotonic()) + 1

    async def add(self, key: str) -> None:
        self._failures.setdefault(key, deque()).append(time.monotonic())

    async def close(self) -> None:
        self._failures.clear()


class RedisFailureCounter:
    """A sorted set per key: members are attempt stamps, trimmed to the window."""

    def __init__(self, redis: Redis, window_s: int, namespace: str) -> None:
        self.redis = redis
        self.namespace = namespace
        self.window_s = window_s

    async def count(self, key: str) -> tuple[int, int]:
        now = time.time()
        name = f"{self.namespace}:login-failures:{key}"
        pipe = self.redis.pipeline()
        pipe.zremrangebyscore(name, 0, now - self.window_s)
        pipe.zcard(name)
        pipe.zrange(name, 0, 0, withscores=True)
        _, count, oldest = await pipe.execute()
        if not count:
            return 0, 0
        return int(count), int(oldest[0][1] + self.window_s - now) + 1

    async def add(self, key: str) -> None:
        now = time.time()
        name = f"{self.namespace}:login-failures:{key}"
        pipe = self.redis.pipeline()
        pipe.zadd(name, {f"{now:.6f}": now})
        pipe.expire(name, self.window_s)
        await pipe.execute()

    async def close(self) -> None:
        await self.redis.aclose()
