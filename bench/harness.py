"""Fan-out load harness: OneTask and the usual FastAPI broadcast, same client, same run.

`bench/run` (see README, "Performance"). For each server and each N it:

1. starts the server, signs up, creates a workspace and tasks, and measures the server
   CPU of one REST trigger with nobody listening, back to back and paced as the
   isolated events are (so it can be reported apart);
2. opens N authenticated WebSockets to /api/v1/ws/workspaces/{id}/tasks and measures
   the server's RSS growth per idle connection;
3. isolated events: triggers one task change over REST at a time and times the last
   of the N subscribers to receive it (p50/p99), with server CPU per 1,000 deliveries;
4. sustained: keeps a few triggers in flight and reports deliveries/s;
5. counts lost frames, error messages, unexpected closes and failed handshakes.

Plus commit-to-delivery latency with 100 subscribers at 100 changes/s (on SQLite, on
PostgreSQL + Redis with 2 processes). The connections are held by bench/load_client.c
(one epoll loop in a process of its own, a few microseconds per delivery) or, with
`--client python`, by this process (uvloop, raw sockets, a minimal handshake and frame
parser); the client's CPU is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis.asyncio as redis
import uvloop
from sqlalchemy import make_url

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
PG_URL = os.environ.get(
    "ONETASK_BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/onetask_bench"
)
REDIS_URL = os.environ.get("ONETASK_BENCH_BROKER_URL", "redis://127.0.0.1:6379/0")
SECRET = "bench-secret-" + "k" * 40
# Servers that only broadcast the same message on the same paths: the usual FastAPI loop,
# and the floor (a bare uvloop server writing the frame to each socket).
STAND_INS = ("baseline", "floor")
DESCRIPTION = "A task that many people watch."
WARMUP_ROUNDS = 5  # bursts of 10 changes before a commit-latency run


# -- the load client ------------------------------------------------------------------


class Tracker:
    """Arrivals per seq: how many subscribers have it, and when the last one got it."""

    def __init__(self) -> None:
        self.target = 0
        self.counts: dict[int, int] = {}
        self.last_at: dict[int, float] = {}
        self.last_wall: dict[int, float] = {}
        self.sample: dict[int, bytes] = {}
        self.connected = 0
        self.errors: list[str] = []
        self.closes: list[int] = []
        self.waiter: asyncio.Future[int] | None = None
        self.all_connected: asyncio.Future[None] | None = None
        self.message_bytes = 0

    def on_text(self, payload: bytes) -> None:
        if payload.startswith(b'{"type":"task_update"'):
            i = payload.find(b'"seq":') + 6
            j = i
            while 47 < payload[j] < 58:
                j += 1
            seq = int(payload[i:j])
            count = self.counts.get(seq, 0) + 1
            self.arrived(seq, count, time.perf_counter(), time.time(), payload)
        elif payload.startswith(b'{"type":"connected"'):
            self.joined(1)
        else:
            self.errors.append(payload[:200].decode(errors="replace"))

    def joined(self, n: int) -> None:
        """n more subscribers got their `connected` message."""
        self.connected += n
        done = self.all_connected
        if self.connected >= self.target and done is not None and not done.done():
            done.set_result(None)

    def arrived(self, seq: int, count: int, at: float, wall: float, payload: bytes) -> None:
        """`count` subscribers have `seq` now; `at` is on `perf_counter`'s clock."""
        self.message_bytes = len(payload)
        self.counts[seq] = count
        self.last_at[seq] = at
        self.last_wall[seq] = wall
        self.sample.setdefault(seq, payload)
        if count == self.target and self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(seq)


PONG_HEADER = bytes((0x8A, 0x80))  # masked pong; a zero mask key keeps the payload as is


class WsClient(asyncio.Protocol):
    __slots__ = ("buf", "handshake", "tracker", "transport")

    def __init__(self, tracker: Tracker, handshake: asyncio.Future[bool]) -> None:
        self.tracker = tracker
        self.handshake: asyncio.Future[bool] | None = handshake
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.handshake is not None and not self.handshake.done():
            self.handshake.set_result(False)

    def data_received(self, data: bytes) -> None:
        if self.buf:
            data = self.buf + data
            self.buf = b""
        if self.handshake is not None:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buf = data
                return
            self.handshake.set_result(data.startswith(b"HTTP/1.1 101"))
            self.handshake = None
            data = data[end + 4 :]
        pos, size = 0, len(data)
        while size - pos >= 2:
            length = data[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                head = 10
            if size - pos < head + length:
                break
            opcode = data[pos] & 0x0F
            payload = data[pos + head : pos + head + length]
            pos += head + length
            if opcode == 1:
                self.tracker.on_text(payload)
            elif opcode == 9 and self.transport is not None:
                self.transport.write(
                    PONG_HEADER[:1] + bytes((0x80 | len(payload),)) + b"\0\0\0\0" + payload
                )
            elif opcode == 8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self.tracker.closes.append(code)
        if pos < size:
            self.buf = data[pos:]


async def open_sockets(
    port: int, path: str, n: int, tracker: Tracker, parallel: int = 100
) -> tuple[list[WsClient], int]:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(parallel)
    clients: list[WsClient] = []
    failures = 0

    async def one() -> None:
        nonlocal failures
        async with gate:
            done: asyncio.Future[bool] = loop.create_future()
            try:
                _, client = await loop.create_connection(
                    lambda: WsClient(tracker, done), "127.0.0.1", port
                )
            except OSError:
                failures += 1
                return
            assert client.transport is not None
            client.transport.write(
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n".encode()
            )
            if await done:
                clients.append(client)
            else:
                failures += 1

    await asyncio.gather(*(one() for _ in range(n)))
    return clients, failures


class Load:
    """The load client's connections: in this process (`PyLoad`) or in the C client's
    (`CLoad`, the default where a C compiler is found)."""

    kind = "python"

    def __init__(self, port: int, path: str, tracker: Tracker) -> None:
        self.port, self.path, self.tracker = port, path, tracker

    async def start(self) -> None:
        pass

    async def open(self, n: int) -> int:
        """Open n more connections; how many failed."""
        raise NotImplementedError

    def set_target(self, n: int) -> None:
        """An event is complete once n subscribers have it."""
        self.tracker.target = n

    async def count_all(self) -> None:
        """Bring `tracker.counts` up to date for incomplete events too."""

    def pids(self) -> list[int]:
        """Processes of the client other than this one."""
        return []

    async def close(self) -> None:
        pass


class PyLoad(Load):
    def __init__(self, port: int, path: str, tracker: Tracker) -> None:
        super().__init__(port, path, tracker)
        self.clients: list[WsClient] = []

    async def open(self, n: int) -> int:
        clients, failures = await open_sockets(self.port, self.path, n, self.tracker)
        self.clients += clients
        return failures

    async def close(self) -> None:
        for c in self.clients:
            if c.transport is not None:
                c.transport.abort()


C_CLIENT = ROOT / "bench" / "load_client.c"


def c_client() -> Path | None:
    """bench/load_client.c built into build/ (again when the source is newer), or None
    without a C compiler."""
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if cc is None:
        return None
    binary = ROOT / "build" / "bench" / "load_client"
    if not binary.exists() or binary.stat().st_mtime < C_CLIENT.stat().st_mtime:
        binary.parent.mkdir(parents=True, exist_ok=True)
        partial = binary.with_suffix(f".{os.getpid()}")  # runs at once do not mix
        subprocess.run([cc, "-O2", "-o", str(partial), str(C_CLIENT)], check=True)
        partial.replace(binary)
    return binary


class CLoad(Load):
    """bench/load_client.c over its stdin and stdout (the protocol is in its header)."""

    kind = "c"

    def __init__(self, port: int, path: str, tracker: Tracker, binary: Path) -> None:
        super().__init__(port, path, tracker)
        self.binary = binary
        self.replies: asyncio.Queue[str] = asyncio.Queue()

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            str(self.binary),
            str(self.port),
            self.path,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=1 << 20,
        )
        self.reading = asyncio.create_task(self.read())

    async def read(self) -> None:
        assert self.process.stdout is not None
        tracker = self.tracker
        async for raw in self.process.stdout:
            kind, _, rest = raw.decode().rstrip("\n").partition(" ")
            if kind == "last":
                seq, at, wall, payload = rest.split(" ", 3)
                tracker.arrived(int(seq), tracker.target, float(at), float(wall), payload.encode())
            elif kind == "close":
                tracker.closes.append(int(rest))
            elif kind == "error":
                tracker.errors.append(rest)
            else:  # "opened", "counts": answers
                self.replies.put_nowait(raw.decode())

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command.encode() + b"\n")

    async def answer(self, kind: str) -> list[str]:
        reply = (await asyncio.wait_for(self.replies.get(), 120)).split()
        assert reply[0] == kind, reply
        return reply[1:]

    async def open(self, n: int) -> int:
        self.send(f"open {n}")
        ok, failed = map(int, await self.answer("opened"))
        self.tracker.joined(ok)
        return failed

    def set_target(self, n: int) -> None:
        super().set_target(n)
        self.send(f"target {n}")

    async def count_all(self) -> None:
        self.send("report")
        for pair in await self.answer("counts"):
            seq, count = pair.split(":")
            self.tracker.counts[int(seq)] = int(count)

    def pids(self) -> list[int]:
        return [self.process.pid]

    async def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()  # it exits, closing its sockets
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        await self.reading


async def start_load(kind: str, port: int, path: str, tracker: Tracker) -> Load:
    """The load client `--client` names ("auto": the C one if it can be built), started."""
    binary = c_client() if kind != "python" else None
    if kind == "c" and binary is None:
        raise SystemExit("bench: --client c needs a C compiler (cc)")
    load = PyLoad(port, path, tracker) if binary is None else CLoad(port, path, tracker, binary)
    await load.start()
    return load


def settle_heap() -> None:
    """Keep the client's own GC pauses out of the latencies: its N protocol objects live
    until the end of the run."""
    gc.collect()
    gc.freeze()


# -- servers --------------------------------------------------------------------------


def proc_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                children = Path(f"/proc/{p}/task/{task}/children").read_text().split()
                todo.extend(int(c) for c in children)
        except OSError:
            continue
    return pids


def cpu_times(pids: list[int]) -> tuple[float, float]:
    """User and system (kernel) CPU seconds of these processes, from /proc."""
    user = system = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user += int(fields[11])  # utime (field 14)
        system += int(fields[12])  # stime (field 15)
    return user / TICK, system / TICK


def cpu_seconds(pids: list[int]) -> float:
    return sum(cpu_times(pids))


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    kind: str  # "onetask" | "baseline" | "floor"
    workers: int = 1
    scaled: bool = False
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    data_dir: Path | None = None
    workers_pids: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, max_conns: int) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"bench-{self.kind}-"))
        log = (self.data_dir / "server.log").open("wb")
        if self.kind in STAND_INS:
            cmd = [PYTHON, str(ROOT / "bench" / f"{self.kind}_app.py"), str(self.port)]
            env = dict(os.environ)
        else:
            cmd = [PYTHON, "-m", "onetask.cli", "serve", "--port", str(self.port)]
            cmd += ["--workers", str(self.workers)]
            env = {
                **os.environ,
                "ONETASK_DATA_DIR": str(self.data_dir),
                "ONETASK_SECRET_KEY": SECRET,
                "ONETASK_WS_MAX_CONNECTIONS_PER_USER": str(max_conns + 100),
                "ONETASK_ACCESS_TOKEN_TTL_S": "7200",
                # One user drives every change: far above the per-user write budget.
                "ONETASK_WRITES_PER_MINUTE": "100000000",
                "ONETASK_LOGINS_PER_ADDRESS": "100000",
            }
            if self.scaled:
                env["ONETASK_DATABASE_URL"] = PG_URL
                env["ONETASK_BROKER_URL"] = REDIS_URL
                env["ONETASK_BROKER_NAMESPACE"] = f"bench-{uuid.uuid4().hex[:8]}"
        self.process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        ready = "/openapi.json" if self.kind in STAND_INS else "/readyz"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(f"{self.kind} exited:\n{tail}")
            try:
                if httpx.get(self.url + ready, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            tail = self.log_tail()
            self.stop()  # not left running (or restarting workers) behind the bench
            raise RuntimeError(f"{self.kind} did not start:\n{tail}")
        time.sleep(0.5 if self.workers == 1 else 3.0)  # let every worker finish starting

    def pids(self) -> list[int]:
        assert self.process is not None
        return proc_tree(self.process.pid)

    def log_tail(self) -> str:
        if self.data_dir is None:
            return ""
        return (self.data_dir / "server.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                # The workers too, or they would outlive their supervisor.
                for pid in reversed(proc_tree(self.process.pid)):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                self.process.wait()
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)


class TriggerFailed(Exception):
    """A task change the server did not make (a 503 from an overloaded server, say)."""


class KeepAlive:
    """HTTP/1.1 requests over kept-alive connections, one request per connection at a
    time: what the harness needs to trigger changes, written out by hand.

    httpx took 3 ms of CPU per PATCH here: at 100 changes/s the harness used a third of
    one of the two cores it shares with the server, PostgreSQL and Redis, and the server
    waited for it. This takes a few hundred microseconds."""

    MAX_IDLE_S = 2.0  # servers close idle connections (uvicorn after 5 s): never reuse one late

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        self.port = port
        self.timeout = timeout
        self.headers: dict[str, str] = {}
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self.idle:
            reader, writer, since = self.idle.pop()
            if time.monotonic() - since < self.MAX_IDLE_S and not reader.at_eof():
                return reader, writer
            writer.close()
        return await asyncio.open_connection("127.0.0.1", self.port)

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        reader, writer = await self._connection()
        head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        head += [f"{k}: {v}" for k, v in self.headers.items()]
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}", "", ""]
        try:
            writer.write("\r\n".join(head).encode() + body)
            status, length, close = await asyncio.wait_for(self._head(reader), self.timeout)
            payload = await asyncio.wait_for(reader.readexactly(length), self.timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            writer.close()
            raise TriggerFailed(f"{method} {path}: {type(exc).__name__} {exc}") from exc
        if close:
            writer.close()
        else:
            self.idle.append((reader, writer, time.monotonic()))
        return status, payload

    @staticmethod
    async def _head(reader: asyncio.StreamReader) -> tuple[int, int, bool]:
        lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = dict(
            (name.strip().lower(), value.strip())
            for name, _, value in (line.partition(":") for line in lines[1:] if line)
        )
        if "content-length" not in fields:  # chunked or read-to-close: not sent here
            raise ValueError(f"no Content-Length in a {status} response")
        return status, int(fields["content-length"]), fields.get("connection") == "close"

    def close(self) -> None:
        for _, writer, _ in self.idle:
            writer.close()
        self.idle.clear()


class Api:
    """Sign up, make a workspace with tasks, and trigger task changes."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.http = httpx.AsyncClient(base_url=server.url, timeout=60)
        self.changes = KeepAlive(server.port)
        self.token = "baseline-token"
        self.workspace = 1
        self.tasks = [1]
        self.n = 0

    async def setup(self, tasks: int = 8) -> None:
        if self.server.kind in STAND_INS:
            return
        name = f"bench{uuid.uuid4().hex[:10]}"
        r = await self.http.post(
            "/api/v1/auth/register",
            json={"email": f"{name}@example.com", "username": name, "password": "password123"},
        )
        r.raise_for_status()
        r = await self.http.post(
            "/api/v1/auth/login", data={"username": name, "password": "password123"}
        )
        r.raise_for_status()
        self.token = r.json()["access_token"]
        self.http.headers["Authorization"] = f"Bearer {self.token}"
        self.changes.headers["Authorization"] = f"Bearer {self.token}"
        r = await self.http.post("/api/v1/workspaces", json={"name": "Bench"})
        r.raise_for_status()
        self.workspace = int(r.json()["id"])
        self.tasks = []
        for i in range(tasks):
            r = await self.http.post(
                f"/api/v1/workspaces/{self.workspace}/tasks",
                json={"title": f"bench task {i}", "description": DESCRIPTION, "priority": "high"},
            )
            r.raise_for_status()
            self.tasks.append(int(r.json()["id"]))

    @property
    def ws_path(self) -> str:
        return f"/api/v1/ws/workspaces/{self.workspace}/tasks?token={self.token}"

    async def trigger(self) -> None:
        self.n += 1
        task = self.tasks[self.n % len(self.tasks)]
        body = b'{"title": "bench %06d"}' % self.n
        status, payload = await self.changes.request("PATCH", f"/api/v1/tasks/{task}", body)
        if status != 200:
            raise TriggerFailed(f"PATCH /api/v1/tasks/{task}: {status} {payload[:200]!r}")

    async def close(self) -> None:
        self.changes.close()
        await self.http.aclose()


# -- phases ---------------------------------------------------------------------------


def committed_at(payload: bytes) -> float:
    """The event's `updated_at`: stamped in the transaction, just before it commits (the
    baseline stamps it just before its loop starts)."""
    stamp = json.loads(payload)["data"]["updated_at"]
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Meter:
    """Server CPU (from /proc), client CPU (getrusage, and /proc for the C client) and
    wall time over a window."""

    def __init__(self, server: Server, load: Load | None = None) -> None:
        self.server = server
        self.load_pids = load.pids() if load is not None else []

    def client_cpu(self) -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime + cpu_seconds(self.load_pids)

    def __enter__(self) -> Meter:
        self.pids = self.server.pids()
        self.user0, self.system0 = cpu_times(self.pids)
        self.client0 = self.client_cpu()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall = time.perf_counter() - self.t0
        user, system = cpu_times(self.pids)
        # On loopback the kernel time of a write includes the receiving side's TCP work and
        # the wake-up of the client, both charged to the writer.
        self.kernel = system - self.system0
        self.cpu = user - self.user0 + self.kernel
        self.client = self.client_cpu() - self.client0


PAUSE_S = 0.03  # between isolated events, once the last subscriber has the previous one


async def trigger_cost(api: Api, server: Server, events: int, pause_s: float = 0.0) -> float:
    """Server CPU per REST trigger with nobody listening.

    Back to back (`pause_s=0`), each change runs with the caches warm from the one before.
    Paced as the isolated events are (`PAUSE_S`), each runs cold: on the bench's VM the
    same request then takes two to three times the CPU (`bench/rest_cost.py --pause-ms
    30` shows it in process). The isolated events pay the paced cost."""
    for _ in range(5):
        await api.trigger()
    with Meter(server) as m:
        for _ in range(events):
            await api.trigger()
            if pause_s:
                await asyncio.sleep(pause_s)
    return m.cpu / events


async def isolated(api: Api, server: Server, load: Load, n: int, events: int) -> dict[str, Any]:
    tracker = load.tracker
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    from_commit: list[float] = []
    timeouts = 0
    with Meter(server, load) as m:
        for _ in range(events):
            tracker.waiter = loop.create_future()
            sent = time.perf_counter()
            await api.trigger()
            try:
                seq = await asyncio.wait_for(tracker.waiter, 10)
                latencies.append(tracker.last_at[seq] - sent)
                from_commit.append(tracker.last_wall[seq] - committed_at(tracker.sample[seq]))
            except TimeoutError:
                timeouts += 1
            await asyncio.sleep(PAUSE_S)
    deliveries = n * events
    return {
        "events": events,
        "last_subscriber_p50_ms": pct(latencies, 0.5) * 1000,
        "last_subscriber_p99_ms": pct(latencies, 0.99) * 1000,
        "commit_to_last_p50_ms": pct(from_commit, 0.5) * 1000,
        "commit_to_last_p99_ms": pct(from_commit, 0.99) * 1000,
        "server_cpu_ms": m.cpu * 1000,
        "server_cpu_ms_per_1k": m.cpu * 1000 / deliveries * 1000,
        "server_kernel_ms_per_1k": m.kernel * 1000 / deliveries * 1000,
        "client_cpu_ms_per_1k": m.client * 1000 / deliveries * 1000,
        "timeouts": timeouts,
    }


async def sustained(
    api: Api, server: Server, load: Load, n: int, events: int, in_flight: int = 4
) -> dict[str, Any]:
    tracker = load.tracker
    first_seq = max(tracker.counts, default=0) + 1
    expected = n * events
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(in_flight)

    async def one() -> None:
        async with gate:
            await api.trigger()

    with Meter(server, load) as m:
        await asyncio.gather(*(one() for _ in range(events)))
        deadline = loop.time() + 60
        while loop.time() < deadline:
            got = sum(tracker.counts.get(s, 0) for s in range(first_seq, first_seq + events))
            if got >= expected:
                break
            await asyncio.sleep(0.005)
    await load.count_all()
    got = sum(tracker.counts.get(s, 0) for s in range(first_seq, first_seq + events))
    return {
        "events": events,
        "deliveries": got,
        "deliveries_per_s": got / m.wall,
        "server_cpu_ms_per_1k": m.cpu * 1000 / max(got, 1) * 1000,
        "server_kernel_ms_per_1k": m.kernel * 1000 / max(got, 1) * 1000,
        "client_cpu_share": m.client / m.wall,
        "lost": expected - got,
    }


async def fanout_run(
    kind: str,
    n: int,
    *,
    workers: int = 1,
    scaled: bool = False,
    smoke: bool = False,
    client: str = "auto",
) -> dict[str, Any]:
    server = Server(kind, workers=workers, scaled=scaled)
    server.start(n)
    api = Api(server)
    tracker = Tracker()
    load: Load | None = None
    try:
        await api.setup()
        load = await start_load(client, server.port, api.ws_path, tracker)
        per_trigger = await trigger_cost(api, server, 10 if smoke else 40)
        paced_trigger = await trigger_cost(api, server, 10 if smoke else 40, PAUSE_S)
        await asyncio.sleep(0.5)
        rss0 = rss_bytes(server.pids())
        load.set_target(n)
        tracker.all_connected = asyncio.get_running_loop().create_future()
        # Memory per idle connection is the RSS growth of the second half: the first half
        # also pays one-time costs (allocator arenas, caches, database pool).
        t0 = time.perf_counter()
        half = n // 2
        failures = await load.open(half)
        await asyncio.sleep(1.0)
        rss_half = rss_bytes(server.pids())
        failures += await load.open(n - half)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(tracker.all_connected, 60)
        connect_s = time.perf_counter() - t0
        settle_heap()
        await asyncio.sleep(2.0)
        rss1 = rss_bytes(server.pids())
        # Refused or closed joins are counted as errors below; time the rest.
        live = max(1, tracker.connected - len(tracker.closes))
        load.set_target(live)
        # Enough isolated events that p99 is not simply the slowest of a handful.
        events = 5 if smoke else max(40, min(100, 300_000 // n))
        iso = await isolated(api, server, load, live, events)
        net = iso["server_cpu_ms"] - paced_trigger * 1000 * events
        iso["server_cpu_ms_per_1k_net"] = net / (live * events) * 1000
        sus = await sustained(api, server, load, live, 10 if smoke else max(20, 300_000 // n))
        lost = sum(max(0, live - c) for c in tracker.counts.values())
        return {
            "server": kind,
            "client": load.kind,
            "workers": workers,
            "backend": "postgresql+redis"
            if scaled
            else ("sqlite+memory" if kind == "onetask" else "-"),
            "n": n,
            "connected": tracker.connected,
            "connect_failures": failures,
            "connect_s": connect_s,
            "kib_per_idle_connection": (rss1 - rss_half) / max(n - half, 1) / 1024,
            "kib_per_idle_connection_all": (rss1 - rss0) / max(tracker.connected, 1) / 1024,
            "trigger_cpu_ms": per_trigger * 1000,
            "trigger_paced_cpu_ms": paced_trigger * 1000,
            "message_bytes": tracker.message_bytes,
            "isolated": iso,
            "sustained": sus,
            "lost": lost,
            "error_messages": len(tracker.errors),
            "closes": len(tracker.closes),
            "errors_sample": tracker.errors[:3],
        }
    finally:
        if load is not None:
            await load.close()
        await api.close()
        server.stop()


async def commit_latency_run(
    kind: str,
    *,
    scaled: bool,
    workers: int,
    subscribers: int,
    rate: float,
    seconds: float,
    client: str = "auto",
) -> dict[str, Any]:
    """Commit (the event's `updated_at`, taken just before commit) → last subscriber."""
    server = Server(kind, workers=workers, scaled=scaled)
    server.start(subscribers)
    api = Api(server)
    tracker = Tracker()
    load: Load | None = None
    try:
        await api.setup()
        load = await start_load(client, server.port, api.ws_path, tracker)
        load.set_target(subscribers)
        tracker.all_connected = asyncio.get_running_loop().create_future()
        await load.open(subscribers)
        await asyncio.wait_for(tracker.all_connected, 60)
        # Steady state, not a cold start: a fresh server pays once for its first
        # database and Redis connections, prepared statements and compiled queries (on
        # PostgreSQL up to ~350 ms for the first changes). Warm it with a burst first.
        for _ in range(WARMUP_ROUNDS):
            await asyncio.gather(*(api.trigger() for _ in range(10)))
        await asyncio.sleep(1.0)
        tracker.sample.clear()
        tracker.counts.clear()
        settle_heap()
        await asyncio.sleep(1.0)
        loop = asyncio.get_running_loop()
        total = int(rate * seconds)
        failed: list[str] = []

        async def change() -> None:
            try:
                await api.trigger()
            except TriggerFailed as exc:  # e.g. 503 from an overloaded server: counted
                failed.append(str(exc).splitlines()[0])

        pending: set[asyncio.Task[None]] = set()
        with Meter(server, load) as meter:
            start = loop.time()
            for i in range(total):
                delay = start + i / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = asyncio.create_task(change())
                pending.add(task)
                task.add_done_callback(pending.discard)
            await asyncio.gather(*pending)
        await asyncio.sleep(1.0)
        latencies = []
        for seq, payload in tracker.sample.items():
            if tracker.counts.get(seq) != subscribers:
                continue
            latencies.append(tracker.last_wall[seq] - committed_at(payload))
        return {
            "server": kind,
            "client": load.kind,
            "backend": "postgresql+redis" if scaled else "sqlite+memory",
            "workers": workers,
            "subscribers": subscribers,
            "rate_per_s": rate,
            "events": len(tracker.sample),
            "complete_events": len(latencies),
            "commit_to_last_p50_ms": pct(latencies, 0.5) * 1000,
            "commit_to_last_p99_ms": pct(latencies, 0.99) * 1000,
            "commit_to_last_max_ms": max(latencies, default=float("nan")) * 1000,
            "failed_changes": len(failed),
            "failed_sample": failed[:3],
            # How busy the server and the client were while changes were paced: near a
            # full core, changes queue behind each other and the tail grows.
            "server_cpu_ms_per_change": meter.cpu * 1000 / total,
            "server_cores": meter.cpu / meter.wall,
            "client_cores": meter.client / meter.wall,
        }
    finally:
        if load is not None:
            await load.close()
        await api.close()
        server.stop()


# -- report ---------------------------------------------------------------------------


def median_of(runs: list[dict[str, Any]], key: Callable[[dict[str, Any]], float]) -> float:
    values = [key(r) for r in runs]
    return statistics.median(values)


def isolated_cpu(run: dict[str, Any]) -> float:
    return float(run["isolated"]["server_cpu_ms_per_1k"])


def isolated_kernel(run: dict[str, Any]) -> float:
    return float(run["isolated"]["server_kernel_ms_per_1k"])


def trigger(runs: list[dict[str, Any]], n: int | str) -> float:
    """A server's REST change (its CPU with nobody listening, paced as the isolated events
    are) per 1,000 deliveries at N."""
    return median_of(runs, paced_trigger) * 1000 / int(n)


def paced_trigger(run: dict[str, Any]) -> float:
    # Result files from before the paced measurement have the back-to-back one only.
    return float(run.get("trigger_paced_cpu_ms", run["trigger_cpu_ms"]))


METRICS: list[tuple[str, Callable[[dict[str, Any]], float], str]] = [
    (
        "REST trigger → last subscriber p50 (ms)",
        lambda r: r["isolated"]["last_subscriber_p50_ms"],
        "{:.1f}",
    ),
    (
        "REST trigger → last subscriber p99 (ms)",
        lambda r: r["isolated"]["last_subscriber_p99_ms"],
        "{:.1f}",
    ),
    (
        "commit → last subscriber p50 (ms)",
        lambda r: r["isolated"]["commit_to_last_p50_ms"],
        "{:.1f}",
    ),
    (
        "commit → last subscriber p99 (ms)",
        lambda r: r["isolated"]["commit_to_last_p99_ms"],
        "{:.1f}",
    ),
    ("server CPU / 1k deliveries, isolated (ms)", isolated_cpu, "{:.2f}"),
    (
        "  same, minus the REST trigger's own CPU, paced (ms)",
        lambda r: r["isolated"]["server_cpu_ms_per_1k_net"],
        "{:.2f}",
    ),
    (
        "  of which in the kernel: socket writes, loopback TCP, wake-ups (ms)",
        isolated_kernel,
        "{:.2f}",
    ),
    (
        "server CPU / 1k deliveries, sustained (ms)",
        lambda r: r["sustained"]["server_cpu_ms_per_1k"],
        "{:.2f}",
    ),
    ("sustained deliveries/s", lambda r: r["sustained"]["deliveries_per_s"], "{:,.0f}"),
    ("server KiB per idle connection", lambda r: r["kib_per_idle_connection"], "{:.1f}"),
    ("client CPU / 1k deliveries (ms)", lambda r: r["isolated"]["client_cpu_ms_per_1k"], "{:.2f}"),
    ("client CPU share, sustained (cores)", lambda r: r["sustained"]["client_cpu_share"], "{:.2f}"),
    ("REST trigger server CPU, back to back (ms)", lambda r: r["trigger_cpu_ms"], "{:.2f}"),
    ("REST trigger server CPU, paced as the isolated events (ms)", paced_trigger, "{:.2f}"),
    (
        "lost + errors + closes + failed connects",
        lambda r: r["lost"] + r["error_messages"] + r["closes"] + r["connect_failures"],
        "{:.0f}",
    ),
]


def table(results: dict[str, Any]) -> str:
    lines = [
        "| metric | N | OneTask | baseline | ratio | floor | OneTask / floor |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, key, fmt in METRICS:
        for n, group in sorted(results["fanout"].items(), key=lambda kv: int(kv[0])):
            ours = group.get("onetask", [])
            theirs = group.get("baseline", [])
            if not ours or not theirs:
                continue
            a, b = median_of(ours, key), median_of(theirs, key)
            ratio = f"{a / b:.2f}" if b else "-"
            floor, over_floor = "-", "-"
            if group.get("floor"):
                f = median_of(group["floor"], key)
                floor, over_floor = fmt.format(f), (f"{a / f:.2f}" if f else "-")
            lines.append(
                f"| {label} | {n} | {fmt.format(a)} | {fmt.format(b)} | {ratio} | {floor} "
                f"| {over_floor} |"
            )
    lines += least_possible(results)
    for run in results.get("scaled", []):
        lines.append(
            f"| 2 processes, PostgreSQL+Redis: last-subscriber p50/p99 (ms) | {run['n']} | "
            f"{run['isolated']['last_subscriber_p50_ms']:.1f} / "
            f"{run['isolated']['last_subscriber_p99_ms']:.1f} | - | - | - | - |"
        )
        lines.append(
            f"| 2 processes, PostgreSQL+Redis: server CPU / 1k (isolated, net) (ms) | {run['n']} "
            f"| {run['isolated']['server_cpu_ms_per_1k']:.2f} "
            f"({run['isolated']['server_cpu_ms_per_1k_net']:.2f}) | - | - | - | - |"
        )
        lines.append(
            f"| 2 processes, PostgreSQL+Redis: deliveries/s, KiB/conn, lost+errors | {run['n']} "
            f"| {run['sustained']['deliveries_per_s']:,.0f}, {run['kib_per_idle_connection']:.1f}"
            f", {run['lost'] + run['error_messages'] + run['closes'] + run['connect_failures']}"
            " | - | - | - | - |"
        )
    for run in results.get("commit_latency", []):
        lines.append(
            f"| commit→last subscriber p50/p99 (ms), {run['subscribers']} subs at "
            f"{run['rate_per_s']:.0f}/s, {run['backend']} x{run['workers']} | "
            f"{run['subscribers']} | {run['commit_to_last_p50_ms']:.1f} / "
            f"{run['commit_to_last_p99_ms']:.1f} ({run['complete_events']}/{run['events']} "
            f"complete, {run['failed_changes']} failed; server "
            f"{run['server_cpu_ms_per_change']:.1f} ms CPU per change, "
            f"{run['server_cores']:.2f} cores; client {run['client_cores']:.2f} cores)"
            " | - | - | - | - |"
        )
    return "\n".join(lines)


def bounds(group: dict[str, list[dict[str, Any]]], n: str) -> list[tuple[str, float]]:
    """The lower bounds of `least_possible`, CPU per 1,000 deliveries at N, from the runs
    of one N with the floor's."""
    fanout, kernel = (median_of(group["floor"], f) for f in (isolated_cpu, isolated_kernel))
    return [
        ("least possible: floor + OneTask's REST change", fanout + trigger(group["onetask"], n)),
        ("floor + the baseline's bare FastAPI endpoint", fanout + trigger(group["baseline"], n)),
        ("kernel alone: the floor's writes in the kernel", kernel),
    ]


def least_possible(results: dict[str, Any]) -> list[str]:
    """Lower bounds per N, each beside the baseline's isolated CPU per 1,000 deliveries:

    - the floor's isolated CPU plus OneTask's REST change (paced as the events are, as it
      runs in the isolated phase): what a server that writes each socket once and makes
      this same change cannot go below on this machine;
    - the floor plus the baseline's bare FastAPI endpoint (no database, no validation of
      a task): what a FastAPI server with the floor's fan-out and no work at all per
      change would cost;
    - the floor's kernel CPU alone: what the writes themselves cost in the kernel, which
      no user-space code, in any language, avoids while it writes each socket once.

    Where a bound's ratio is above a target, the target needs a cheaper change or a
    cheaper write per socket, not a cheaper fan-out."""
    lines = []
    for n, group in sorted(results["fanout"].items(), key=lambda kv: int(kv[0])):
        if not (group.get("onetask") and group.get("baseline") and group.get("floor")):
            continue
        baseline = median_of(group["baseline"], isolated_cpu)
        for label, bound in bounds(group, n):
            ratio = f"{bound / baseline:.2f}" if baseline else "-"  # a short run can read 0
            lines.append(
                f"| {label}, CPU / 1k deliveries (ms) | {n} | {bound:.2f} | {baseline:.2f} "
                f"| {ratio} | - | - |"
            )
    return lines


def targets(results: dict[str, Any]) -> list[str]:
    """Issue 7's targets, each met or not in this run, with the bound that explains a miss.

    Only what the run measured is judged: a smoke run (N = 100, 50 changes/s) meets none
    of the conditions and gets no verdicts."""
    fanout = results["fanout"]
    lines = []
    for n in ("1000", "5000"):
        group = fanout.get(n, {})
        if not (group.get("onetask") and group.get("baseline")):
            continue
        baseline = median_of(group["baseline"], isolated_cpu)
        if not baseline:
            continue
        ratio = median_of(group["onetask"], isolated_cpu) / baseline
        line = (
            f"- server CPU per delivery, isolated events, at most 0.5x the baseline's at "
            f"N={n}: {ratio:.3f} -> {'met' if ratio <= 0.5 else 'NOT met'}"
        )
        if ratio > 0.5 and group.get("floor"):
            named = ((label.split(":")[0], bound / baseline) for label, bound in bounds(group, n))
            line += " (" + ", ".join(f"{name} {ratio:.2f}" for name, ratio in named) + ")"
        lines.append(line)
    group = fanout.get("5000", {})
    if group.get("onetask"):
        p99 = median_of(group["onetask"], lambda r: r["isolated"]["last_subscriber_p99_ms"])
        line = (
            f"- last of 5,000 subscribers at p99 within 50 ms: {p99:.1f} ms -> "
            f"{'met' if p99 <= 50 else 'NOT met'}"
        )
        if group.get("floor"):
            floor_p99 = median_of(group["floor"], lambda r: r["isolated"]["last_subscriber_p99_ms"])
            line += f" (the floor: {floor_p99:.1f} ms)"
        lines.append(line)
    memory = {
        n: median_of(group["onetask"], lambda r: r["kib_per_idle_connection"])
        for n, group in sorted(fanout.items(), key=lambda kv: int(kv[0]))
        if int(n) >= 1000 and group.get("onetask")
    }
    if memory:
        worst = max(memory.values())
        sizes = ", ".join(f"{v:.1f} at N={n}" for n, v in memory.items())
        lines.append(
            f"- at most 20 KiB per idle connection: {sizes} -> "
            f"{'met' if worst <= 20 else 'NOT met'}"
        )
    big = fanout.get("10000", {}).get("onetask", [])
    if big:
        bad = sum(
            r["lost"] + r["error_messages"] + r["closes"] + r["connect_failures"] for r in big
        )
        short = sum(max(0, r["n"] - r["connected"]) for r in big)
        lines.append(
            f"- 10,000 connections on one process, no errors, nothing lost: {len(big)} run(s), "
            f"{bad} lost/errors/closes/failed connects, {short} not connected -> "
            f"{'met' if bad == 0 and short == 0 else 'NOT met'}"
        )
    latency = [
        r
        for r in results.get("commit_latency", [])
        if r["subscribers"] == 100 and r["rate_per_s"] == 100
    ]
    for backend, workers in sorted({(r["backend"], r["workers"]) for r in latency}):
        runs = [r for r in latency if (r["backend"], r["workers"]) == (backend, workers)]
        p99s = [r["commit_to_last_p99_ms"] for r in runs]
        lines.append(
            f"- commit to delivery p99 within 10 ms, 100 subscribers at 100 changes/s, "
            f"{backend} x{workers}: {' / '.join(f'{v:.1f}' for v in p99s)} ms -> "
            f"{'met' if max(p99s) <= 10 else 'NOT met'}"
        )
    return lines


async def ensure_scaled_backends() -> None:
    """Create the bench's PostgreSQL database if it is missing; fail early, and say what
    to do, if PostgreSQL or Redis does not answer."""
    url = make_url(PG_URL)
    try:
        admin = await asyncpg.connect(
            host=url.host, port=url.port or 5432, user=url.username, database="postgres"
        )
        try:
            if not await admin.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", url.database
            ):
                await admin.execute(f'CREATE DATABASE "{url.database}"')
        finally:
            await admin.close()
        client = redis.from_url(REDIS_URL)
        await client.ping()
        await client.aclose()
    except (OSError, asyncpg.PostgresError, redis.RedisError) as exc:
        raise SystemExit(
            f"bench: PostgreSQL ({PG_URL}) or Redis ({REDIS_URL}) did not answer: {exc!r}. "
            "Start them, or run with --no-scaled."
        ) from exc


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [100] if args.smoke else args.n
    results: dict[str, Any] = {
        "started_at": datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg()},
        "smoke": args.smoke,
        "fanout": {},
        "scaled": [],
        "commit_latency": [],
    }
    repeats = 1 if args.smoke else args.repeats
    if args.scaled and not args.smoke:
        await ensure_scaled_backends()
    for n in sizes:
        kinds = ("onetask", "baseline", "floor") if args.floor else ("onetask", "baseline")
        group: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
        for _ in range(repeats):
            for kind in kinds:
                run = await fanout_run(kind, n, smoke=args.smoke, client=args.client)
                group[kind].append(run)
                iso = run["isolated"]
                print(
                    f"  {kind:8} N={n:<6} p99 {iso['last_subscriber_p99_ms']:7.1f} ms  "
                    f"cpu/1k {iso['server_cpu_ms_per_1k']:5.2f} ms "
                    f"(net {iso['server_cpu_ms_per_1k_net']:5.2f})  "
                    f"{run['kib_per_idle_connection']:5.1f} KiB/conn  "
                    f"{run['sustained']['deliveries_per_s']:9,.0f} deliv/s  lost {run['lost']}",
                    file=sys.stderr,
                    flush=True,
                )
        results["fanout"][str(n)] = group
    if args.scaled and not args.smoke:
        for n in args.scaled_n:
            run = await fanout_run("onetask", n, workers=2, scaled=True, client=args.client)
            results["scaled"].append(run)
            print(f"  scaled N={n} {run['isolated']}", file=sys.stderr, flush=True)
    rate, seconds = (50.0, 2.0) if args.smoke else (100.0, args.commit_seconds)
    backends = [(False, 1)] + ([(True, 1), (True, 2)] if args.scaled and not args.smoke else [])
    for scaled, workers in backends:
        for _ in range(repeats):
            run = await commit_latency_run(
                "onetask",
                scaled=scaled,
                workers=workers,
                subscribers=100,
                rate=rate,
                seconds=seconds,
                client=args.client,
            )
            results["commit_latency"].append(run)
            print(f"  commit latency {run}", file=sys.stderr, flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description="OneTask fan-out benchmark vs the FastAPI loop")
    parser.add_argument("--smoke", action="store_true", help="N=100, a few events (< 60 s)")
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument("--repeats", type=int, default=2, help="runs per N (medians reported)")
    parser.add_argument(
        "--no-scaled", dest="scaled", action="store_false", help="skip the PostgreSQL + Redis runs"
    )
    parser.add_argument(
        "--no-floor", dest="floor", action="store_false", help="skip the bare-write floor server"
    )
    parser.add_argument(
        "--client",
        choices=("auto", "c", "python"),
        default="auto",
        help="load client: bench/load_client.c (built with cc; auto: if cc is found) or the "
        "Python one in this process",
    )
    parser.add_argument("--scaled-n", type=int, nargs="+", default=[5000])
    parser.add_argument("--commit-seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    results = uvloop.run(main_async(args))
    results["table"] = table(results)
    results["targets"] = targets(results)
    args.out.mkdir(parents=True, exist_ok=True)
    path = (
        args.out
        / f"{datetime.now().strftime('%Y%m%d-%H%M%S')}{'-smoke' if args.smoke else ''}.json"
    )
    path.write_text(json.dumps(results, indent=2, default=str))
    print(results["table"])
    if results["targets"]:
        print("\nTargets (issue 7), in this run:\n" + "\n".join(results["targets"]))
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
