"""/metrics on a real server follows real activity: connections, frames sent, outbox lag,
fan-out time, event-loop lag, and the queue drops and 4508 closes of a client that stops
reading."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Api
from tests.e2e.servers import Server, Socket, silent_socket


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    process = Server(tmp_path_factory.mktemp("metrics"), ONETASK_WS_QUEUE_SIZE="16").start()
    yield process
    process.stop()


def sample(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert found is not None, f"{name} missing from /metrics"
    return float(found.group(1))


async def scrape(client: httpx.AsyncClient) -> str:
    r = await client.get("/metrics")
    assert r.status_code == 200
    return r.text


async def test_metrics_follow_connections_deliveries_and_lag(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        alice = await Api(client).user()
        ws = await alice.workspace()
        before = await scrape(client)
        assert sample(before, "onetask_ws_connections") == 0
        socks = [
            await Socket.open(server.ws_url, f"workspaces/{ws}/tasks", alice.token)
            for _ in range(3)
        ]
        for sock in socks:
            await sock.recv_type("connected")
        await alice.task(ws, title="counted")
        for sock in socks:
            assert (await sock.recv_type("task_update"))["data"]["title"] == "counted"
        after = await scrape(client)
        assert sample(after, "onetask_ws_connections") == 3
        sent = "onetask_ws_messages_sent_total"
        assert sample(after, sent) >= sample(before, sent) + 3
        assert sample(after, "onetask_fanout_seconds_count") > sample(
            before, "onetask_fanout_seconds_count"
        )
        assert sample(after, "onetask_event_loop_lag_seconds_count") >= 1  # ticking
        # The relay records the lag when the broker acknowledges the publish, which may
        # come after the subscribers got the event (Redis answers both at once).
        lag = "onetask_outbox_lag_seconds_count"
        for _ in range(100):
            if sample(after, lag) > sample(before, lag):
                break
            await asyncio.sleep(0.05)
            after = await scrape(client)
        assert sample(after, lag) > sample(before, lag)
        for sock in socks:
            await sock.close()
        for _ in range(100):
            if sample(await scrape(client), "onetask_ws_connections") == 0:
                break
            await asyncio.sleep(0.05)
        assert sample(await scrape(client), "onetask_ws_connections") == 0


async def test_metrics_count_a_slow_consumer_cut_off(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        alice = await Api(client).user()
        ws = await alice.workspace()
        before = await scrape(client)
        silent = silent_socket(server.port, f"/api/v1/ws/workspaces/{ws}/tasks?token={alice.token}")
        try:
            big = "x" * 19_000
            for i in range(400):  # the kernel's buffers fill first; then the server's limit
                await alice.task(ws, title=f"t{i}", description=big)
                if i % 20 == 19:
                    text = await scrape(client)
                    if sample(text, "onetask_ws_slow_consumer_closes_total") > sample(
                        before, "onetask_ws_slow_consumer_closes_total"
                    ):
                        break
            after = await scrape(client)
        finally:
            silent.close()
        closes = "onetask_ws_slow_consumer_closes_total"
        drops = "onetask_ws_queue_drops_total"
        assert sample(after, closes) == sample(before, closes) + 1
        assert sample(after, drops) > sample(before, drops)


async def test_served_process_keeps_its_startup_heap_out_of_the_collector(server: Server) -> None:
    """`onetask serve` freezes what startup built (long GC pauses otherwise stall every
    socket) and times each collection that still runs."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        text = await scrape(client)
    assert sample(text, "onetask_gc_frozen_objects") > 50_000
    assert sample(text, "onetask_gc_pause_seconds_count") >= 0
    assert 'onetask_gc_pause_seconds_bucket{le="0.01"}' in text
    assert sample(text, "onetask_sqlite_wal_checkpoint_seconds_count") >= 0
    assert sample(text, "onetask_sqlite_wal_checkpoint_failures_total") == 0


def _proc(pid: int, name: str) -> str:
    with open(f"/proc/{pid}/{name}") as f:
        return f.read()


async def test_process_metrics_are_the_serving_process_s_own(server: Server) -> None:
    """CPU, memory, descriptors and start time of the process that answers, as the kernel
    counts them: its CPU is what to watch to know when to add processes (README)."""
    assert server.process is not None
    pid = server.process.pid
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        alice = await Api(client).user()
        ws = await alice.workspace()
        before = await scrape(client)
        socks = [
            await Socket.open(server.ws_url, f"workspaces/{ws}/tasks", alice.token)
            for _ in range(4)
        ]
        for sock in socks:
            await sock.recv_type("connected")
        for i in range(20):
            await alice.task(ws, title=f"cpu {i}")
        after = await scrape(client)
        resident = int(_proc(pid, "statm").split()[1]) * os.sysconf("SC_PAGE_SIZE")
        open_fds = len(os.listdir(f"/proc/{pid}/fd"))
        for sock in socks:
            await sock.close()
    assert sample(after, "process_cpu_seconds_total") > sample(before, "process_cpu_seconds_total")
    if os.stat("/proc/self/fd").st_size:  # Linux 6.2 on counts them without a listing
        # Four more sockets; the process's other descriptors may come and go meanwhile.
        assert sample(after, "process_open_fds") >= sample(before, "process_open_fds") + 4
        assert abs(sample(after, "process_open_fds") - open_fds) <= 2
    else:
        assert "process_open_fds" not in after
    assert abs(sample(after, "process_resident_memory_bytes") - resident) < resident * 0.2
    limit = next(line for line in _proc(pid, "limits").splitlines() if "open files" in line)
    assert sample(after, "process_max_fds") == float(limit.split()[3])
    started = sample(after, "process_start_time_seconds")
    assert time.time() - 600 < started < time.time()
    assert sample(before, "process_start_time_seconds") == started
