"""The command line refuses configurations that would silently misbehave."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest

from tests.conftest import DATABASE_URL
from tests.e2e.servers import Server, free_port, run_cli


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


@contextmanager
def not_a_database() -> Iterator[str]:
    """A port that accepts connections and closes them at once: reachable, yet no
    PostgreSQL or Redis can be spoken to there."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def refuse() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            with suppress(TimeoutError):
                listener.accept()[0].close()

    thread = threading.Thread(target=refuse, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_workers_that_cannot_start_stop_the_supervisor_with_their_status(tmp_path: Path) -> None:
    with not_a_database() as address:
        result = run_cli(
            tmp_path,
            "serve", "--workers", "2", "--port", "0",
            ONETASK_DATABASE_URL=f"postgresql+asyncpg://postgres@{address}/nothing",
            ONETASK_BROKER_URL=f"redis://{address}/0",
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


@pytest.mark.parametrize(
    ("setting", "url", "service"),
    [
        ("ONETASK_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/db", "PostgreSQL"),
        ("ONETASK_DATABASE_URL", "postgres://postgres@127.0.0.1:1/db", "PostgreSQL"),
        ("ONETASK_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:1/db", "PostgreSQL"),
        ("ONETASK_BROKER_URL", "redis://127.0.0.1:1/0", "Redis"),
    ],
)
def test_an_unreachable_database_or_broker_is_one_line_and_status_4(
    tmp_path: Path, setting: str, url: str, service: str
) -> None:
    port = str(free_port())
    result = run_cli(
        tmp_path, "serve", "--port", port, ONETASK_SECRET_KEY="s" * 40, **{setting: url}
    )
    assert result.returncode == 4, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert f"cannot reach {service} at 127.0.0.1:1 ({setting}=" in line, line


def test_a_database_url_with_another_driver_is_one_line_and_status_2(tmp_path: Path) -> None:
    for url in ("postgresql+psycopg2://postgres@127.0.0.1/db", "mysql://root@127.0.0.1/db"):
        result = run_cli(tmp_path, "db", "upgrade", ONETASK_DATABASE_URL=url)
        assert result.returncode == 2, result.stderr[-2000:]
        [line] = result.stderr.strip().splitlines()
        assert "ONETASK_DATABASE_URL" in line and "postgresql://" in line, line


def test_a_malformed_setting_is_one_line_naming_it_and_status_2(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "db", "upgrade", ONETASK_DATABASE_POOL_SIZE="many")
    assert result.returncode == 2, result.stderr[-2000:]
    [line] = result.stderr.strip().splitlines()
    assert "ONETASK_DATABASE_POOL_SIZE" in line and "'many'" in line, line


@pytest.mark.scaled  # a real PostgreSQL
@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_postgres_urls_without_a_driver_mean_asyncpg(tmp_path: Path, scheme: str) -> None:
    assert DATABASE_URL is not None
    url = scheme + "://" + DATABASE_URL.partition("://")[2]
    result = run_cli(
        tmp_path, "db", "upgrade", ONETASK_DATABASE_URL=url, ONETASK_SECRET_KEY="s" * 40
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "up to date" in result.stdout and "Traceback" not in result.stderr
