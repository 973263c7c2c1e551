"""The command line refuses configurations that would silently misbehave."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.servers import Server, run_cli


def test_several_workers_with_the_in_process_broker_are_refused(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "serve", "--workers", "2")
    assert result.returncode == 2
    assert "ONETASK_BROKER_URL=redis://" in result.stderr


def test_db_upgrade_creates_the_embedded_database(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "onetask.db").exists()
    again = run_cli(tmp_path, "db", "upgrade")
    assert again.returncode == 0 and "up to date" in again.stdout


def test_workers_that_cannot_start_stop_the_supervisor_with_their_status(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path,
        "serve", "--workers", "2", "--port", "0",
        ONETASK_DATABASE_URL="postgresql+asyncpg://postgres@127.0.0.1:1/unreachable",
        ONETASK_BROKER_URL="redis://127.0.0.1:1/0",
        ONETASK_SECRET_KEY="s" * 40,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr[-2000:]
    assert "failed to start" in result.stderr
    assert "restarting" not in result.stderr


@pytest.mark.scaled  # several workers need PostgreSQL and Redis
def test_workers_log_as_a_single_process_does(tmp_path: Path) -> None:
    server = Server(tmp_path).start(workers=2)
    try:
        marker = f"/healthz?marker={time.time_ns()}"
        for _ in range(10):  # spread over the workers as the kernel likes
            assert httpx.get(server.url + marker, timeout=10).status_code == 200
        deadline = time.monotonic() + 10
        while marker not in (log := server.log.read_text()):
            assert time.monotonic() < deadline, f"no access log line:\n{log[-3000:]}"
            time.sleep(0.05)
    finally:
        server.stop()
    started = re.findall(r"Started server process \[(\d+)\]", log)
    assert len(set(started)) == 2, log[-3000:]  # each worker's start-up lines
    assert log.count("Application startup complete.") == 2
    assert f'"GET {marker} HTTP/1.1" 200' in log
