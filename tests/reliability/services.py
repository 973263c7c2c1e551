"""Private PostgreSQL and Redis servers that the fault tests own.

Each runs on a free loopback port from a temporary directory, so stopping, killing or
restarting one never disturbs the machine's shared services or anyone else's tests.
Only processes started here are ever signalled, by their own PID.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.e2e.servers import free_port


def _wait(condition: object, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} within {timeout} s")


class PrivateRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="onetask-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        log = (self.dir / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.dir)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        _wait(self.ping, "redis did not answer", 10)
        return self

    def ping(self) -> bool:
        result = subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "ping"],
            capture_output=True,
            timeout=5,
            check=False,
        )
        return result.stdout.strip() == b"PONG"

    def kill(self) -> None:
        """SIGKILL: the broker vanishes mid-stream, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def _postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found: install PostgreSQL server binaries")
    return path


class PrivatePostgres:
    """A throw-away cluster. Run as the `postgres` user when we are root (initdb refuses
    root), trusting loopback connections of the `postgres` role."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="onetask-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = list(args)
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)

    def init(self) -> PrivatePostgres:
        self._run(_postgres_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        return self.start()

    def start(self) -> PrivatePostgres:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            _postgres_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log),
            "-o", options, "-w", "-t", "30", "start",
        )  # fmt: skip
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stops the postmaster this object started (pg_ctl signals the PID in its
        data directory's postmaster.pid, i.e. our own)."""
        if (self.data / "postmaster.pid").exists():
            self._run(_postgres_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def psql(self, sql: str) -> None:
        subprocess.run(
            [
                *("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"),
                *("-v", "ON_ERROR_STOP=1", "-q", "-c", sql),
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
