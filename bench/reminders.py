#!/usr/bin/env python3
"""What pending reminders cost an idle server: its CPU per second with 100,000 future
reminders, against the same server with none, in the same run.

    bench/reminders.py [--reminders 100000] [--seconds 20] [--database-url URL]

Starts `onetask serve` on a fresh database (SQLite in a temporary directory, or the
given PostgreSQL database, whose other rows stay in both runs; the reminders are
deleted afterwards), creates one task over
REST, and reads the process's CPU time (utime + stime in /proc/<pid>/stat) over
`--seconds` of idleness after a short settling time. Then it stops the server, inserts
the reminders directly (spread over the next 30 days, all pending), starts the server
again on the same database and measures the same way. The scheduler finds due reminders
through the index on `fire_at` (and the earliest pending one through the same index), so
both numbers should be the same, up to noise.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete, insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from onetask.config import Settings  # noqa: E402
from onetask.db.engine import Database  # noqa: E402
from onetask.db.models import TaskReminder  # noqa: E402
from onetask.db.types import utcnow  # noqa: E402

SETTLE_S = 3.0
SECRET = "bench-reminders-" + "x" * 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.env, self.log = env, log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "onetask.cli", "serve", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the server exited:\n{self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise SystemExit("the server did not start")

    def __exit__(self, *_: Any) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)

    def idle_cpu_ms_per_s(self, seconds: float) -> float:
        assert self.process is not None
        time.sleep(SETTLE_S)
        start_cpu, start = cpu_seconds(self.process.pid), time.monotonic()
        time.sleep(seconds)
        used = cpu_seconds(self.process.pid) - start_cpu
        return 1000 * used / (time.monotonic() - start)


def create_task(url: str) -> tuple[int, int]:
    """A user, a workspace and a task over REST; the user's and the task's ids."""
    with httpx.Client(base_url=url + "/api/v1", timeout=30) as client:
        name = f"bench-{uuid.uuid4().hex[:8]}"
        account = {"email": f"{name}@example.com", "username": name, "password": "password123"}
        assert client.post("/auth/register", json=account).status_code == 201
        login = client.post("/auth/login", data={"username": name, "password": "password123"})
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        workspace = client.post("/workspaces", json={"name": "Bench"}).json()["id"]
        task = client.post(f"/workspaces/{workspace}/tasks", json={"title": "Remind me"})
        assert task.status_code == 201, task.text
        return int(client.get("/users/me").json()["id"]), int(task.json()["id"])


async def insert_reminders(settings: Settings, user_id: int, task_id: int, count: int) -> None:
    database = Database(settings)
    now = utcnow()
    span = timedelta(days=30).total_seconds()
    try:
        for first in range(0, count, 10_000):
            rows = [
                {
                    "task_id": task_id,
                    "user_id": user_id,
                    "created_by_id": user_id,
                    "at": now + timedelta(hours=1, seconds=span * i / count),
                    "fire_at": now + timedelta(hours=1, seconds=span * i / count),
                    "created_at": now,
                }
                for i in range(first, min(count, first + 10_000))
            ]
            async with database.session(write=True) as session:
                await session.execute(insert(TaskReminder), rows)
                await session.commit()
    finally:
        await database.dispose()


async def remove_reminders(settings: Settings, task_id: int) -> None:
    """Leave a PostgreSQL database as it was (a SQLite one goes with its directory)."""
    database = Database(settings)
    try:
        async with database.session(write=True) as session:
            await session.execute(delete(TaskReminder).where(TaskReminder.task_id == task_id))
            await session.commit()
    finally:
        await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reminders", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--database-url", help="a PostgreSQL database; default SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-reminders-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ONETASK_")}
        env.update({"ONETASK_DATA_DIR": tmp, "ONETASK_SECRET_KEY": SECRET})
        if args.database_url:
            env["ONETASK_DATABASE_URL"] = args.database_url
        settings = Settings(data_dir=Path(tmp), database_url=args.database_url, secret_key=SECRET)
        log = Path(tmp) / "server.log"
        with Server(env, log) as server:
            user_id, task_id = create_task(server.url)
            without = server.idle_cpu_ms_per_s(args.seconds)
        asyncio.run(insert_reminders(settings, user_id, task_id, args.reminders))
        try:
            with Server(env, log) as server:
                with_reminders = server.idle_cpu_ms_per_s(args.seconds)
        finally:
            asyncio.run(remove_reminders(settings, task_id))
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"idle server CPU, {backend}, over {args.seconds:g} s (ms of CPU per second)")
    header = f"{'pending reminders':<20}{'none (baseline)':>18}{f'{args.reminders:,}':>14}"
    print(f"{header}{'ratio':>9}")
    ratio = f"{with_reminders / without:.2f}x" if without > 0 else "-"
    print(f"{'ms CPU / s':<20}{without:>18.2f}{with_reminders:>14.2f}{ratio:>9}")


if __name__ == "__main__":
    main()
