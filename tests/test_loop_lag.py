"""The event-loop lag probe behind `onetask_event_loop_lag_seconds`: a stall of the loop
shows up as one late tick as long as the stall, and a stopped probe records nothing."""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left

from onetask.metrics import _BUCKETS, Histogram, LoopLag


def observed_over(histogram: Histogram, seconds: float) -> int:
    return sum(histogram.counts[bisect_left(_BUCKETS, seconds) + 1 :])


async def test_a_stalled_loop_is_seen_as_lag_and_a_stopped_probe_records_nothing() -> None:
    lag = Histogram("lag", "test")
    probe = LoopLag(lag)
    probe.start()
    await asyncio.sleep(LoopLag.INTERVAL_S * 3)
    assert lag.n >= 1  # it ticks while the loop is free
    before = observed_over(lag, 0.25)
    time.sleep(0.4)  # noqa: ASYNC251  (the stall: a tick falls due within 0.1 s of it)
    await asyncio.sleep(LoopLag.INTERVAL_S * 2)
    assert observed_over(lag, 0.25) == before + 1  # that tick ran at least 0.3 s late
    probe.stop()
    seen = lag.n
    await asyncio.sleep(LoopLag.INTERVAL_S * 3)
    assert lag.n == seen
