"""The command line refuses configurations that would silently misbehave."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.servers import run_cli


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
