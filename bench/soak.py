"""Soak: many connections, steady changes, for a long time; reports memory growth and loss.

    .venv/bin/python bench/soak.py                        # 2,000 connections, 10 minutes
    .venv/bin/python bench/soak.py --minutes 1            # a quick run
    .venv/bin/python bench/soak.py --scaled --workers 2   # PostgreSQL + Redis (see harness)

One OneTask server (bench/harness.py's `Server`), one user, `--workspaces` workspaces with
the `--connections` subscribers spread over them (each connected from `since=0`), and a
steady `--rate` of task changes per second over REST for `--minutes`. Every subscriber
pings every 60 s like a live client (so the idle timeout does not cut it). The server's
RSS is sampled every `--sample-s` seconds. At the end every subscriber must hold every
seq of its channel exactly once and in order; anything else is reported as loss.
Not part of CI: it measures, it does not assert.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Server, WsClient, cpu_seconds, rss_bytes

PING = bytes((0x81, 0x80 | 15)) + b"\0\0\0\0" + b'{"type":"ping"}'  # masked, zero key


@dataclass
class Subscriber:
    """What one connection received (duck-types harness.Tracker for WsClient)."""

    seqs: list[int] = field(default_factory=list)
    closes: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def on_text(self, payload: bytes) -> None:
        if payload.startswith(b'{"type":"task_update"'):
            i = payload.find(b'"seq":') + 6
            j = i
            while 47 < payload[j] < 58:
                j += 1
            self.seqs.append(int(payload[i:j]))
        elif not payload.startswith((b'{"type":"connected"', b'{"type":"pong"')):
            self.errors.append(payload[:200].decode(errors="replace"))


async def connect(port: int, path: str, sub: Subscriber) -> WsClient | None:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bool] = loop.create_future()
    try:
        _, client = await loop.create_connection(
            lambda: WsClient(sub, done),  # type: ignore[arg-type]
            "127.0.0.1",
            port,
        )
    except OSError:
        return None
    assert client.transport is not None
    client.transport.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    return client if await done else None


async def setup(http: httpx.AsyncClient, workspaces: int) -> tuple[str, list[tuple[int, int]]]:
    name = f"soak{time.time_ns() % 10**10}"
    body = {"email": f"{name}@example.com", "username": name, "password": "password123"}
    (await http.post("/api/v1/auth/register", json=body)).raise_for_status()
    r = await http.post("/api/v1/auth/login", data={"username": name, "password": "password123"})
    r.raise_for_status()
    token = r.json()["access_token"]
    http.headers["Authorization"] = f"Bearer {token}"
    targets = []
    for i in range(workspaces):
        r = await http.post("/api/v1/workspaces", json={"name": f"Soak {i}"})
        ws = int(r.json()["id"])
        r = await http.post(f"/api/v1/workspaces/{ws}/tasks", json={"title": "soak"})
        targets.append((ws, int(r.json()["id"])))
    return token, targets


async def channel_head(http: httpx.AsyncClient, port: int, path: str) -> int:
    loop = asyncio.get_running_loop()
    got: asyncio.Future[int] = loop.create_future()

    class Head(Subscriber):
        def on_text(self, payload: bytes) -> None:
            if payload.startswith(b'{"type":"connected"') and not got.done():
                got.set_result(int(json.loads(payload)["data"]["seq"]))

    client = await connect(port, path, Head())
    assert client is not None and client.transport is not None
    head = await asyncio.wait_for(got, 10)
    client.transport.close()
    return head


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    server = Server("onetask", workers=args.workers, scaled=args.scaled)
    server.start(max_conns=args.connections)
    try:
        return await run(args, server)
    finally:
        server.stop()


async def run(args: argparse.Namespace, server: Server) -> dict[str, Any]:
    http = httpx.AsyncClient(base_url=server.url, timeout=60)
    token, targets = await setup(http, args.workspaces)
    paths = [f"/api/v1/ws/workspaces/{ws}/tasks?token={token}&since=0" for ws, _ in targets]
    subs = [Subscriber() for _ in range(args.connections)]
    gate = asyncio.Semaphore(100)

    async def open_one(i: int) -> WsClient | None:
        async with gate:
            return await connect(server.port, paths[i % len(paths)], subs[i])

    started = time.monotonic()
    clients = await asyncio.gather(*(open_one(i) for i in range(args.connections)))
    failed = sum(c is None for c in clients)
    print(f"opened {args.connections - failed} connections in "
          f"{time.monotonic() - started:.1f} s ({failed} failed)", file=sys.stderr)  # fmt: skip
    await asyncio.sleep(2)
    samples: list[tuple[float, int]] = []
    cpu_start = cpu_seconds(server.pids())
    changes = errors = 0
    begin = time.monotonic()
    end = begin + args.minutes * 60
    next_sample = next_ping = begin
    interval = 1 / args.rate
    tick = begin
    while (now := time.monotonic()) < end:
        if now >= next_sample:
            samples.append((now - begin, rss_bytes(server.pids())))
            mb = samples[-1][1] / 2**20
            print(f"  t={now - begin:6.0f} s  rss {mb:7.1f} MiB  changes {changes}",
                  file=sys.stderr, flush=True)  # fmt: skip
            next_sample += args.sample_s
        if now >= next_ping:
            for client in clients:
                if client is not None and client.transport is not None:
                    client.transport.write(PING)
            next_ping += 60
        _, task = targets[changes % len(targets)]
        r = await http.patch(f"/api/v1/tasks/{task}", json={"title": f"soak {changes}"})
        changes += 1
        errors += r.status_code != 200
        tick += interval
        await asyncio.sleep(max(0.0, tick - time.monotonic()))
    cpu = cpu_seconds(server.pids()) - cpu_start
    samples.append((time.monotonic() - begin, rss_bytes(server.pids())))

    heads = {p: await channel_head(http, server.port, p.split("&since")[0]) for p in paths}
    deadline = time.monotonic() + 60
    # Polled with a deadline: the client has no per-subscriber event to wait on.
    while time.monotonic() < deadline and any(  # noqa: ASYNC110
        (s.seqs[-1] if s.seqs else 0) < heads[paths[i % len(paths)]]
        for i, s in enumerate(subs)
        if clients[i] is not None
    ):
        await asyncio.sleep(0.2)
    lost = duplicated = disordered = complete = 0
    for i, sub in enumerate(subs):
        if clients[i] is None:
            continue
        expected = list(range(1, heads[paths[i % len(paths)]] + 1))
        if sub.seqs == expected:
            complete += 1
            continue
        lost += len(set(expected) - set(sub.seqs))
        duplicated += len(sub.seqs) - len(set(sub.seqs))
        disordered += sub.seqs != sorted(sub.seqs)
    for client in clients:
        if client is not None and client.transport is not None:
            client.transport.close()
    await http.aclose()
    return report(args, samples, changes, errors, cpu, subs, failed, complete, lost,
                  duplicated, disordered)  # fmt: skip


def slope_mib_per_min(samples: list[tuple[float, int]]) -> float:
    if len(samples) < 2:
        return 0.0
    xs = [t / 60 for t, _ in samples]
    ys = [b / 2**20 for _, b in samples]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


def report(
    args: argparse.Namespace,
    samples: list[tuple[float, int]],
    changes: int,
    errors: int,
    cpu: float,
    subs: list[Subscriber],
    failed: int,
    complete: int,
    lost: int,
    duplicated: int,
    disordered: int,
) -> dict[str, Any]:
    first, last = samples[0][1], samples[-1][1]
    deliveries = sum(len(s.seqs) for s in subs)
    elapsed = samples[-1][0]
    return {
        "connections": args.connections,
        "failed_handshakes": failed,
        "workspaces": args.workspaces,
        "minutes": round(elapsed / 60, 2),
        "changes": changes,
        "rest_errors": errors,
        "changes_per_s": round(changes / elapsed, 1) if elapsed else 0,
        "deliveries": deliveries,
        "subscribers_complete_and_ordered": complete,
        "lost_events": lost,
        "duplicated_events": duplicated,
        "subscribers_out_of_order": disordered,
        "unexpected_closes": sum(len(s.closes) for s in subs),
        "error_messages": sum(len(s.errors) for s in subs),
        "rss_mib_start": round(first / 2**20, 1),
        "rss_mib_end": round(last / 2**20, 1),
        "rss_mib_max": round(max(b for _, b in samples) / 2**20, 1),
        "rss_growth_mib": round((last - first) / 2**20, 1),
        "rss_slope_mib_per_min": round(slope_mib_per_min(samples), 2),
        "server_cpu_s": round(cpu, 1),
        "rss_samples": [(round(t), round(b / 2**20, 1)) for t, b in samples],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0, help="task changes per second")
    parser.add_argument("--workspaces", type=int, default=10)
    parser.add_argument("--sample-s", type=float, default=10.0)
    parser.add_argument("--scaled", action="store_true", help="PostgreSQL + Redis (harness)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, help="also write the report as JSON here")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    result = uvloop.run(soak(args))
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    ok = result["lost_events"] == 0 and result["subscribers_complete_and_ordered"] == (
        args.connections - result["failed_handshakes"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
