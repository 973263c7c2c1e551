"""A few Prometheus metrics, rendered in the text exposition format at /metrics."""

from __future__ import annotations

import asyncio
import os
import resource
import time
from bisect import bisect_left
from dataclasses import dataclass, field
from functools import cache

# Names other modules count under, declared here so /metrics shows them from the start.
CONNECTIONS = "onetask_ws_connections"
MESSAGES_SENT = "onetask_ws_messages_sent_total"
SLOW_CONSUMER_CLOSES = "onetask_ws_slow_consumer_closes_total"
QUEUE_DROPS = "onetask_ws_queue_drops_total"
QUEUE_DROPS_HELP = "Frames discarded because their connection fell behind (it is closed with 4508)"
EVENTS_PUBLISHED = "onetask_events_published_total"
GC_FROZEN = "onetask_gc_frozen_objects"
WAL_CHECKPOINT_FAILURES = "onetask_sqlite_wal_checkpoint_failures_total"

_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)


@dataclass
class Histogram:
    name: str
    help: str
    counts: list[int] = field(default_factory=lambda: [0] * (len(_BUCKETS) + 1))
    total: float = 0.0
    n: int = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(_BUCKETS, seconds)] += 1
        self.total += seconds
        self.n += 1

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        cumulative = 0
        for bound, count in zip(_BUCKETS, self.counts, strict=False):
            cumulative += count
            lines.append(f'{self.name}_bucket{{le="{bound}"}} {cumulative}')
        lines.append(f'{self.name}_bucket{{le="+Inf"}} {self.n}')
        lines += [f"{self.name}_sum {self.total:.6f}", f"{self.name}_count {self.n}"]
        return lines


class LoopLag:
    """How late a timer due every `INTERVAL_S` runs: how long the event loop was kept
    from everything else (a long statement, a big fan-out, a garbage collection, new
    database connections), which every request and every delivery waits out.

    Ten callbacks a second; a stall that no tick falls due in goes unseen, so the
    histogram undercounts short stalls and catches every one longer than the interval.
    """

    INTERVAL_S = 0.1

    def __init__(self, histogram: Histogram) -> None:
        self.histogram = histogram
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._due = loop.time() + self.INTERVAL_S
        self._handle = loop.call_at(self._due, self._tick, loop)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        self.histogram.observe(max(0.0, now - self._due))
        self._due = now + self.INTERVAL_S
        self._handle = loop.call_at(self._due, self._tick, loop)


class Metrics:
    def __init__(self) -> None:
        self.counters: dict[str, tuple[str, int]] = {
            MESSAGES_SENT: ("Frames queued to sockets", 0),
            SLOW_CONSUMER_CLOSES: ("Connections closed with 4508 because they fell behind", 0),
            QUEUE_DROPS: (QUEUE_DROPS_HELP, 0),
            EVENTS_PUBLISHED: ("Events published", 0),
            WAL_CHECKPOINT_FAILURES: ("SQLite WAL checkpoints that failed (embedded mode)", 0),
        }
        self.gauges: dict[str, tuple[str, float]] = {
            CONNECTIONS: ("Open WebSocket connections", 0),
        }
        self.outbox_lag = Histogram(
            "onetask_outbox_lag_seconds", "Time from commit to publish on the broker"
        )
        self.fanout = Histogram(
            "onetask_fanout_seconds",
            "Time to write one loop turn's events of a channel (usually one) to every local "
            "subscriber's transport",
        )
        self.gc_pause = Histogram(
            "onetask_gc_pause_seconds",
            "Time the event loop stood still in one run of the cyclic garbage collector",
        )
        self.loop_lag = Histogram(
            "onetask_event_loop_lag_seconds",
            "How late a timer due every 100 ms ran: how long the event loop was busy with "
            "one thing while requests and deliveries waited",
        )
        self.wal_checkpoint = Histogram(
            "onetask_sqlite_wal_checkpoint_seconds",
            "Time one background checkpoint took to copy SQLite's WAL into the database "
            "(embedded mode; on a thread, not the event loop)",
        )

    def wal_checkpointed(self, seconds: float, failed: bool) -> None:
        if failed:
            self.inc(WAL_CHECKPOINT_FAILURES, "")
        else:
            self.wal_checkpoint.observe(seconds)

    def inc(self, name: str, help: str, by: int = 1) -> None:
        _, value = self.counters.get(name, (help, 0))
        self.counters[name] = (help, value + by)

    def set(self, name: str, help: str, value: float) -> None:
        self.gauges[name] = (help, value)

    def render(self) -> str:
        lines: list[str] = []
        for name, (help, value) in sorted(self.counters.items()):
            lines += _sample(name, "counter", help, value)
        for name, (help, gauge) in sorted(self.gauges.items()):
            lines += _sample(name, "gauge", help, gauge)
        for histogram in (
            self.outbox_lag,
            self.fanout,
            self.loop_lag,
            self.gc_pause,
            self.wal_checkpoint,
        ):
            lines += histogram.render()
        return "\n".join(lines + _process_lines()) + "\n"


_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _process_lines() -> list[str]:
    """Prometheus's standard `process_*` metrics for this process, read when scraped.

    Its CPU is what sets how fast it answers under load: a change and its fan-out are
    work for this one thread, so as it nears a core of CPU per second, requests and
    deliveries queue behind each other (see README, Performance). The file descriptors
    say how close the WebSockets are to `ulimit -n`. Resident memory, descriptors and the
    start time come from /proc (Linux); where it cannot say they are left out, not faked.
    """
    soft_fds, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    samples: list[tuple[str, str, str, float | None]] = [
        (
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time used, all threads",
            time.process_time(),
        ),
        ("process_resident_memory_bytes", "gauge", "Resident memory size", _resident_bytes()),
        ("process_open_fds", "gauge", "Open file descriptors (sockets included)", _open_fds()),
        (
            "process_max_fds",
            "gauge",
            "Limit on open file descriptors (ulimit -n)",
            None if soft_fds == resource.RLIM_INFINITY else soft_fds,
        ),
        (
            "process_start_time_seconds",
            "gauge",
            "Start time, seconds since the Unix epoch",
            _start_time(os.getpid()),
        ),
    ]
    return [
        line
        for name, kind, help, value in samples
        if value is not None
        for line in _sample(name, kind, help, value)
    ]


def _sample(name: str, kind: str, help: str, value: float) -> list[str]:
    return [f"# HELP {name} {help}", f"# TYPE {name} {kind}", f"{name} {value}"]


def _resident_bytes() -> int | None:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_BYTES
    except OSError:
        return None


def _open_fds() -> int | None:
    """The size Linux (6.2 on) gives the descriptor directory: its number of entries.
    Listing it instead held the event loop for 10-34 ms with 10,000 sockets open."""
    try:
        count = os.stat("/proc/self/fd").st_size
    except OSError:
        return None
    return count or None  # 0: an older kernel, which does not count them there


@cache
def _start_time(pid: int) -> float | None:
    """Boot time plus the process's start in clock ticks since boot (`proc(5)`): read
    once per process (keyed by pid, so a forked worker reads its own)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # The name (field 2) may hold spaces and parentheses: count from its end.
            started_ticks = int(stat.read().rpartition(b")")[2].split()[19])
        with open("/proc/stat", "rb") as system:
            boot = next(int(line.split()[1]) for line in system if line.startswith(b"btime "))
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    return boot + started_ticks / _CLOCK_TICKS
