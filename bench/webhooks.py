#!/usr/bin/env python3
"""Webhooks: what a webhook costs a task change, and how soon its delivery arrives.

    bench/webhooks.py [--tasks 300] [--database-url postgresql://…]

Drives the whole ASGI application in this process (SQLite in a temporary directory
unless a database URL is given) with a receiver on 127.0.0.1 that answers 200 at once.
`--tasks` tasks are created one after the other in a workspace with a webhook
subscribed to everything, then as many in a workspace without one (the baseline, same
run). Reported: the REST latency of the change in each, the time from each change's
answer to its delivery's arrival, and how long all deliveries took in all.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from onetask.app import create_app  # noqa: E402
from onetask.config import Settings  # noqa: E402


class Receiver:
    def __init__(self, expected: int) -> None:
        self.arrived: dict[int, float] = {}  # seq → perf_counter at arrival
        self.expected = expected
        self.all_arrived = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: the sender reuses its connection
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
                length = int(head.split("content-length:")[1].split("\r\n")[0])
                body = orjson.loads(await reader.readexactly(length))
                self.arrived.setdefault(body["seq"], time.perf_counter())
                if len(self.arrived) >= self.expected:
                    self.all_arrived.set()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return (
        f"p50 {statistics.median(ordered) * 1000:6.2f} ms  p95 {p95 * 1000:6.2f} ms  "
        f"max {ordered[-1] * 1000:6.2f} ms"
    )


async def _changes(
    client: httpx.AsyncClient, headers: dict[str, str], ws: int, n: int
) -> list[tuple[int, float, float]]:
    """(seq, latency, answered_at) of `n` task creations, one after the other."""
    done = []
    for i in range(n):
        started = time.perf_counter()
        r = await client.post(
            f"/api/v1/workspaces/{ws}/tasks", json={"title": f"t{i}"}, headers=headers
        )
        answered = time.perf_counter()
        assert r.status_code == 201, r.text
        done.append((i + 1, answered - started, answered))
    return done


async def main(tasks: int, database_url: str | None) -> None:
    receiver = Receiver(tasks)
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            database_url=database_url,
            secret_key="bench-" + "x" * 40,
            writes_per_minute=10**6,
            webhook_allowed_hosts="127.0.0.1",
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                user = {"email": "b@example.com", "username": "bench", "password": "password123"}
                await client.post("/api/v1/auth/register", json=user)
                login = await client.post(
                    "/api/v1/auth/login", data={"username": "bench", "password": "password123"}
                )
                headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
                hooked = (
                    await client.post("/api/v1/workspaces", json={"name": "h"}, headers=headers)
                ).json()["id"]
                plain = (
                    await client.post("/api/v1/workspaces", json={"name": "p"}, headers=headers)
                ).json()["id"]
                r = await client.post(
                    f"/api/v1/workspaces/{hooked}/webhooks",
                    json={"url": f"http://127.0.0.1:{port}/hook", "event_types": ["*"]},
                    headers=headers,
                )
                assert r.status_code == 201, r.text
                began = time.perf_counter()
                with_hook = await _changes(client, headers, hooked, tasks)
                await asyncio.wait_for(receiver.all_arrived.wait(), 120)
                all_delivered = max(receiver.arrived.values()) - began
                without = await _changes(client, headers, plain, tasks)
    server.close()
    delays = [receiver.arrived[seq] - answered for seq, _, answered in with_hook]
    backend = "PostgreSQL" if database_url else "SQLite"
    print(f"webhooks bench, {backend}, {tasks} task creations each, one after the other")
    print(f"  task create, workspace with a webhook    : {_ms([x[1] for x in with_hook])}")
    print(f"  task create, baseline (no webhook)       : {_ms([x[1] for x in without])}")
    print(f"  answer -> delivery arrives at receiver   : {_ms(delays)}")
    print(f"  all {tasks} delivered {all_delivered:.2f} s after the first change")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.tasks, args.database_url))
