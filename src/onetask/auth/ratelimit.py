"""Budgets of attempts per key: logins (failed and all) per account and per client
address in a sliding window, REST writes per user in a fixed one.

In-process for the embedded mode; in Redis when several processes share the load, so a
client cannot multiply a budget by spreading attempts over processes. A login budget is
reserved before the password is checked, for all its keys at once and atomically: a check
made before any concurrent attempt had counted let 97 of 100 simultaneous guesses through.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("onetask")


@dataclass(frozen=True, slots=True)
class Charge:
    key: str
    limit: int


class BudgetSpent(Exception):
    def __init__(self, key: str, retry_after_s: int) -> None:
        super().__init__(key)
        self.key = key
        self.retry_after_s = retry_after_s


class LoginCounter(Protocol):
    async def reserve(self, charges: Sequence[Charge]) -> str:
        """Count one attempt against every key, or against none if any budget is spent
        (`BudgetSpent` names it). Returns the attempt's id, for `refund`."""
        ...

    async def refund(self, keys: Sequence[str], attempt: str) -> None: ...


class WriteCounter(Protocol):
    async def spend(self, key: str, limit: int) -> int | None:
        """None while `key` has budget left in this window; else seconds until the next."""
        ...


class MemoryLoginCounter:
    """One deque of attempt stamps per key. Single-threaded: each call is atomic."""

    def __init__(self, window_s: int) -> None:
        self.window_s = window_s
        self._attempts: dict[str, deque[tuple[float, str]]] = {}
        self._next_sweep = 0.0

    def _live(self, key: str, now: float) -> deque[tuple[float, str]]:
        stamps = self._attempts.get(key)
        if stamps is None:
            return deque()
        while stamps and stamps[0][0] <= now - self.window_s:
            stamps.popleft()
        if not stamps:
            del self._attempts[key]
        return stamps

    def _sweep(self, now: float) -> None:
        # Guessed usernames and addresses each leave a key: drop the idle ones once a
        # window, or the table grows with every name ever tried.
        if now >= self._next_sweep:
            self._next_sweep = now + self.window_s
            for key in list(self._attempts):
                self._live(key, now)

    async def reserve(self, charges: Sequence[Charge]) -> str:
        now = time.monotonic()
        self._sweep(now)
        for charge in charges:
            stamps = self._live(charge.key, now)
            if len(stamps) >= charge.limit:
                retry_after = int(stamps[0][0] + self.window_s - now) + 1
                raise BudgetSpent(charge.key, retry_after)
        attempt = secrets.token_hex(8)
        for charge in charges:
            self._attempts.setdefault(charge.key, deque()).append((now, attempt))
        return attempt

    async def refund(self, keys: Sequence[str], attempt: str) -> None:
        for key in keys:
            stamps = self._attempts.get(key, deque())
            for stamp in stamps:
                if stamp[1] == attempt:
                    stamps.remove(stamp)
                    break


# KEYS: one sorted set per budget; ARGV: now, window, attempt id, then each key's limit.
# Checks every key, then adds to all or none: one script, so atomic across processes.
_RESERVE = """
local now, window, attempt = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= tonumber(ARGV[3 + i]) then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    return {i, math.floor(tonumber(oldest[2]) + window - now) + 1}
  end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, attempt)
  redis.call('EXPIRE', key, math.ceil(window))
end
return {0, 0}
"""


class RedisLoginCounter:
    """A sorted set per key: members are attempt ids scored by time, trimmed to the window."""

    def __init__(self, redis: Redis, window_s: int, namespace: str) -> None:
        self.redis = redis
        self.window_s = window_s
        self.prefix = f"{namespace}:login-attempts:"
        self._reserve = redis.register_script(_RESERVE)

    async def reserve(self, charges: Sequence[Charge]) -> str:
        attempt = secrets.token_hex(8)
        keys = [self.prefix + c.key for c in charges]
        args: list[str | float] = [time.time(), self.window_s, attempt]
        args += [c.limit for c in charges]
        spent, retry_after = await self._reserve(keys=keys, args=args)
        if spent:
            raise BudgetSpent(charges[int(spent) - 1].key, int(retry_after))
        return attempt

    async def refund(self, keys: Sequence[str], attempt: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.zrem(self.prefix + key, attempt)
        await pipe.execute()


class MemoryWriteCounter:
    """Counts per key in fixed windows; the whole table starts afresh with each window."""

    def __init__(self, window_s: int) -> None:
        self.window_s = window_s
        self._window = -1
        self._counts: dict[str, int] = {}

    async def spend(self, key: str, limit: int) -> int | None:
        now = time.time()
        window = int(now // self.window_s)
        if window != self._window:
            self._window, self._counts = window, {}
        count = self._counts.get(key, 0)
        if count >= limit:
            return math.ceil((window + 1) * self.window_s - now)
        self._counts[key] = count + 1
        return None


_INCREMENT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


class RedisWriteCounter:
    """One counter per key and window (INCR), shared by every process.

    While Redis is unreachable each process counts on its own: writes are stored in the
    database and must not fail, nor wait, because the broker is down. After a failure,
    Redis is tried again only `REDIS_RETRY_S` later, so an outage costs one attempt per
    interval, not a connection timeout per write."""

    REDIS_RETRY_S = 5.0

    def __init__(self, redis: Redis, window_s: int, namespace: str) -> None:
        self.window_s = window_s
        self.prefix = f"{namespace}:writes:"
        self._increment = redis.register_script(_INCREMENT)
        self._local = MemoryWriteCounter(window_s)
        self._redis_retry_at = 0.0

    async def spend(self, key: str, limit: int) -> int | None:
        now = time.time()
        if now < self._redis_retry_at:
            return await self._local.spend(key, limit)
        window = int(now // self.window_s)
        try:
            name = f"{self.prefix}{key}:{window}"
            count = await self._increment(keys=[name], args=[self.window_s])
        except RedisError as exc:
            log.warning("write limit counted per process: Redis unavailable (%s)", exc)
            self._redis_retry_at = time.time() + self.REDIS_RETRY_S
            return await self._local.spend(key, limit)
        if int(count) > limit:
            return math.ceil((window + 1) * self.window_s - now)
        return None
