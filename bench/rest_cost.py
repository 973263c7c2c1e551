"""What one REST request costs the server, with no network and no sockets listening.

Drives the whole ASGI application in this process (middleware, routing, dependencies,
SQL on SQLite, outbox, commit) with raw ASGI calls, and, in the same run, the same
change on the raw driver (`bench/raw_change.py`: no FastAPI, no SQLAlchemy) and the
baseline's bare PATCH endpoint (`bench/baseline_app.py`). Three measures:

    bench/rest_cost.py                  CPU µs per request (min of 5 rounds; noisy)
    bench/rest_cost.py --pause-ms 30    CPU µs per request when each comes alone, after
                                        a pause (as the bench's isolated events do)
    bench/rest_cost.py --instructions   instructions per request, counted by callgrind
                                        (repeatable to a fraction of a percent whatever
                                        else the machine does; about 2 minutes)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
Call = Callable[[], Awaitable[None]]


async def asgi(
    app: Any, method: str, path: str, body: bytes = b"", headers: Sequence[tuple[bytes, bytes]] = ()
) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"content-length", str(len(body)).encode()), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    received = False
    answer: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no disconnect while the request runs
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return answer["status"], answer["body"]


JSON = [(b"content-type", b"application/json")]


@dataclass
class Account:
    """A signed-in user's bearer header and the 8 tasks of their workspace."""

    auth: list[tuple[bytes, bytes]]
    tasks: list[int]
    n: int = 0

    def patcher(self, app: Any) -> Call:
        """A PATCH of the title of the next task, through `app` (OneTask, or the same
        change on the raw driver)."""

        async def patch() -> None:
            self.n += 1
            change = json.dumps({"title": f"bench {self.n:06d}"}).encode()
            task = self.tasks[self.n % len(self.tasks)]
            path = f"/api/v1/tasks/{task}"
            status, body = await asgi(app, "PATCH", path, change, JSON + self.auth)
            assert status == 200, body

        return patch


async def sign_up(app: Any) -> Account:
    """Sign up, make a workspace with 8 tasks."""
    account = {"email": "bench@example.com", "username": "bench", "password": "password123"}
    status, _ = await asgi(app, "POST", "/api/v1/auth/register", json.dumps(account).encode(), JSON)
    assert status == 201
    form = [(b"content-type", b"application/x-www-form-urlencoded")]
    _, body = await asgi(
        app, "POST", "/api/v1/auth/login", b"username=bench&password=password123", form
    )
    auth = [(b"authorization", f"Bearer {json.loads(body)['access_token']}".encode())]
    _, body = await asgi(app, "POST", "/api/v1/workspaces", b'{"name": "Bench"}', JSON + auth)
    workspace = json.loads(body)["id"]
    tasks = []
    for i in range(8):
        task = json.dumps({"title": f"task {i}", "description": "d" * 200, "priority": "high"})
        status, body = await asgi(
            app, "POST", f"/api/v1/workspaces/{workspace}/tasks", task.encode(), JSON + auth
        )
        assert status == 201, body
        tasks.append(json.loads(body)["id"])
    return Account(auth, tasks)


def onetask_calls(app: Any, account: Account) -> dict[str, Call]:
    async def get() -> None:
        account.n += 1
        task = account.tasks[account.n % len(account.tasks)]
        status, body = await asgi(app, "GET", f"/api/v1/tasks/{task}", b"", account.auth)
        assert status == 200, body

    return {"PATCH /tasks/{id}": account.patcher(app), "GET /tasks/{id}": get}


def baseline_calls(app: Any) -> dict[str, Call]:
    async def patch() -> None:
        status, body = await asgi(app, "PATCH", "/api/v1/tasks/1", b'{"title": "bench"}', JSON)
        assert status == 200, body

    return {"PATCH /tasks/{id}": patch}


class Counter:
    """Instructions between two points of this process, when it runs under callgrind."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.dumps = 0

    def zero(self) -> None:
        subprocess.run(
            ["callgrind_control", "-z", str(os.getpid())], check=True, capture_output=True
        )

    def read(self) -> int:
        self.dumps += 1
        subprocess.run(
            ["callgrind_control", "-d", f"segment{self.dumps}", str(os.getpid())],
            check=True,
            capture_output=True,
        )
        dump = Path(f"{self.out}.{self.dumps}")
        totals = re.search(r"^(?:summary|totals): (\d+)", dump.read_text(), re.M)
        assert totals is not None, dump
        return int(totals.group(1))


async def measure(call: Call, requests: int, counter: Counter | None, pause_s: float) -> float:
    for _ in range(100):  # warm: caches, compiled statements, pools
        await call()
    if counter is not None:
        counter.zero()
        for _ in range(requests):
            await call()
        return counter.read() / requests
    if pause_s:
        # Each request alone: the loop idles (or runs the app's background work) for the
        # pause, then the request's own CPU is timed, on this thread only.
        spent = 0
        for _ in range(requests):
            await asyncio.sleep(pause_s)
            started = time.thread_time_ns()
            await call()
            spent += time.thread_time_ns() - started
        return spent / requests / 1000
    rounds = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(requests):
            await call()
        rounds.append((time.process_time() - started) / requests * 1e6)
    return min(rounds)


async def run(
    requests: int, counter: Counter | None, pause_s: float = 0.0
) -> dict[str, dict[str, float]]:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-rest-"))
    os.environ["ONETASK_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("ONETASK_SECRET_KEY", "bench-secret-key-0123456789abcdef0123456789")
    # One user makes every change: far above the per-user write budget (still counted).
    os.environ.setdefault("ONETASK_WRITES_PER_MINUTE", "100000000")
    sys.path.insert(0, str(ROOT / "bench"))
    from baseline_app import app as baseline  # a script beside this one
    from raw_change import RawChange
    from sqlalchemy import make_url

    from onetask.app import create_app  # once ONETASK_DATA_DIR is set

    results: dict[str, dict[str, float]] = {}
    try:
        app = create_app()
        async with app.router.lifespan_context(app):
            account = await sign_up(app)
            for name, call in onetask_calls(app, account).items():
                cost = await measure(call, requests, counter, pause_s)
                results.setdefault(name, {})["onetask"] = cost
            settings = app.state.settings
            database = Path(str(make_url(settings.resolved_database_url).database))
            raw = RawChange(database, settings.signing_key)
            try:
                cost = await measure(account.patcher(raw), requests, counter, pause_s)
                results["PATCH /tasks/{id}"]["raw"] = cost
            finally:
                raw.close()
        for name, call in baseline_calls(baseline).items():
            results.setdefault(name, {})["baseline"] = await measure(
                call, requests, counter, pause_s
            )
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instructions", action="store_true", help="count with callgrind")
    parser.add_argument(
        "--pause-ms",
        type=float,
        default=0.0,
        help="time each request alone, after this pause (caches go cold meanwhile)",
    )
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--callgrind-out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.instructions and args.pause_ms:
        parser.error("--pause-ms times requests; --instructions counts them, paused or not")
    if args.instructions and args.callgrind_out is None:  # run again under callgrind
        if shutil.which("valgrind") is None:
            print("--instructions needs valgrind (apt install valgrind)", file=sys.stderr)
            return 2
        work = Path(tempfile.mkdtemp(prefix="bench-callgrind-"))
        out = work / "callgrind.out"
        inner = [sys.executable, __file__, "--instructions", "--callgrind-out", str(out)]
        inner += ["--requests", str(args.requests or 100)]
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *inner]
        try:
            return subprocess.run(command, stderr=subprocess.DEVNULL, check=False).returncode
        finally:
            shutil.rmtree(work, ignore_errors=True)
    counter = Counter(args.callgrind_out) if args.callgrind_out else None
    requests = args.requests or (100 if counter else 300)
    results = asyncio.run(run(requests, counter, args.pause_ms / 1000))
    what = f"{'instructions' if counter else 'CPU µs'} per request"
    if args.pause_ms:
        what += f", each after a {args.pause_ms:g} ms pause"
    print(f"{'request':<20} {'OneTask':>14} {'raw driver':>14} {'baseline':>14}   ({what})")
    for name, row in results.items():
        ours, raw, theirs = row.get("onetask"), row.get("raw"), row.get("baseline")
        fmt = "{:>14,.0f}"
        cells = [fmt.format(v) if v is not None else f"{'-':>14}" for v in (ours, raw, theirs)]
        ratio = f"   {ours / theirs:.1f}x" if ours and theirs else ""
        print(f"{name:<20} {' '.join(cells)}{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
