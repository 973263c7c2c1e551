"""`bench/run --smoke` still works: it runs OneTask and the baseline at N=100 and writes
its numbers. Speed is measured by the bench itself, never asserted here."""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from onetask.app import create_app
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("client", ["auto", "python"])
def test_bench_smoke_completes_and_reports_numbers(tmp_path: Path, client: str) -> None:
    """With the C load client (built on first use where `cc` is found) and the Python one."""
    done = subprocess.run(
        [str(ROOT / "bench" / "run"), "--smoke", "--client", client, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| metric | N | OneTask | baseline | ratio | floor | OneTask / floor |" in done.stdout
    for bound in ("least possible: floor + OneTask's", "floor + the baseline's", "kernel alone"):
        assert f"| {bound}" in done.stdout
    [result_file] = tmp_path.glob("*.json")
    results = json.loads(result_file.read_text())
    expected_client = "python" if client == "python" or not shutil.which("cc") else "c"
    for kind in ("onetask", "baseline", "floor"):
        [run] = results["fanout"]["100"][kind]
        assert run["client"] == expected_client
        assert run["connected"] == 100
        assert run["lost"] == 0
        numbers = [
            run["isolated"]["last_subscriber_p99_ms"],
            run["isolated"]["server_cpu_ms_per_1k"],
            run["isolated"]["server_kernel_ms_per_1k"],
            run["sustained"]["deliveries_per_s"],
            run["kib_per_idle_connection"],
            run["isolated"]["client_cpu_ms_per_1k"],
            run["trigger_paced_cpu_ms"],
        ]
        assert all(isinstance(x, float) and math.isfinite(x) for x in numbers), numbers
    [latency] = results["commit_latency"]
    assert latency["complete_events"] > 0


@pytest.mark.parametrize("pause", [[], ["--pause-ms", "5"]])
def test_rest_cost_runs_both_apps_and_prints_their_costs(pause: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "rest_cost.py"), "--requests", "5", *pause],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {line.split("  ")[0]: line.split() for line in done.stdout.splitlines()}
    patch, get = rows["PATCH /tasks/{id}"], rows["GET /tasks/{id}"]
    # OneTask, the same change on the raw driver, the baseline's bare endpoint, the ratio.
    assert all(float(cell.replace(",", "")) > 0 for cell in patch[2:5]), patch
    assert patch[5].endswith("x") and float(get[2].replace(",", "")) > 0


def _bench(module: str) -> Any:
    """A module of bench/, which is scripts, not a package."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        return __import__(module)
    finally:
        sys.path.remove(str(ROOT / "bench"))


def _comparable(message: str) -> dict[str, Any]:
    """A frame without what differs between two changes of the same task."""
    frame = json.loads(message)
    frame.pop("seq")
    differ = ("id", "content", "created_at") if frame["type"] == "notification" else ()
    for key in differ or ("title", "version", "updated_at"):
        frame["data"].pop(key)
    return frame


async def test_the_raw_driver_change_does_the_work_onetask_does(tmp_path: Path) -> None:
    """`bench/raw_change.py` prices OneTask's PATCH without its stack, so it must write
    what OneTask writes: the task, a notification, one event on each channel, the next
    seqs; the same frames but for the title, seq, version, ids and times."""
    rest_cost, raw_change = _bench("rest_cost"), _bench("raw_change")
    database = tmp_path / "raw.db"
    settings = make_settings(
        tmp_path, database_url=f"sqlite+aiosqlite:///{database}", broker_url="memory://"
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        account = await rest_cost.sign_up(app)
        account.tasks = account.tasks[:1]
        await account.patcher(app)()  # OneTask
        raw = raw_change.RawChange(database, settings.signing_key)
        try:
            await account.patcher(raw)()
        finally:
            raw.close()
    with sqlite3.connect(database) as db:
        title, version = db.execute(
            "SELECT title, version FROM tasks WHERE id = ?", (account.tasks[0],)
        ).fetchone()
        notifications = db.execute(
            "SELECT user_id, type, title, content, read, related_entity_type,"
            " related_entity_id FROM notifications ORDER BY id DESC LIMIT 2"
        ).fetchall()
        events = {
            channel: db.execute(
                "SELECT seq, message FROM events WHERE channel = ? ORDER BY seq DESC LIMIT 2",
                (channel,),
            ).fetchall()
            for (channel,) in db.execute("SELECT DISTINCT channel FROM events")
        }
    assert (title, version) == (f"bench {account.n:06d}", 3)  # created, then two changes
    raw_note, onetask_note = notifications
    assert raw_note[3] == f"You've updated '{title}'"
    assert raw_note[:3] + raw_note[4:] == onetask_note[:3] + onetask_note[4:]
    assert sorted(channel.split(":")[-1] for channel in events) == ["notifications", "tasks"]
    for (raw_seq, raw_frame), (onetask_seq, onetask_frame) in events.values():
        assert raw_seq == onetask_seq + 1
        assert _comparable(raw_frame) == _comparable(onetask_frame)


def test_lower_bound_rows_survive_a_baseline_that_read_no_cpu() -> None:
    """At N=100 a run's CPU can read 0 ticks; the rows then have no ratio, not a crash."""
    harness = _bench("harness")

    def run(cpu_per_1k: float, trigger_ms: float, kernel: float = 0) -> dict[str, Any]:
        iso = {"server_cpu_ms_per_1k": cpu_per_1k, "server_kernel_ms_per_1k": kernel}
        # The bounds add the paced trigger, not the back-to-back one.
        paced = {"trigger_cpu_ms": trigger_ms / 3, "trigger_paced_cpu_ms": trigger_ms}
        return {"isolated": iso, **paced}

    idle = {"onetask": [run(40, 2)], "baseline": [run(0, 0)], "floor": [run(0, 0)]}
    busy = {"onetask": [run(11, 2)], "baseline": [run(12.6, 0.25)], "floor": [run(7.6, 0, 6.3)]}
    rows = harness.least_possible({"fanout": {"100": idle, "1000": busy}})
    assert [row.split(" | ")[1:5] for row in rows] == [
        ["100", "20.00", "0.00", "-"],
        ["100", "0.00", "0.00", "-"],
        ["100", "0.00", "0.00", "-"],
        ["1000", "9.60", "12.60", "0.76"],
        ["1000", "7.85", "12.60", "0.62"],
        ["1000", "6.30", "12.60", "0.50"],
    ]


def _fanout_run(
    cpu_per_1k: float, *, p99: float = 40.0, kib: float = 14.0, lost: int = 0, n: int = 1000
) -> dict[str, Any]:
    iso = {
        "server_cpu_ms_per_1k": cpu_per_1k,
        "server_kernel_ms_per_1k": cpu_per_1k * 0.8,
        "last_subscriber_p99_ms": p99,
    }
    return {
        "isolated": iso,
        "trigger_cpu_ms": 1.0,
        "trigger_paced_cpu_ms": 3.0,
        "kib_per_idle_connection": kib,
        "lost": lost,
        "error_messages": 0,
        "closes": 0,
        "connect_failures": 0,
        "n": n,
        "connected": n,
    }


def _latency_run(backend: str, workers: int, p99: float, rate: float = 100) -> dict[str, Any]:
    return {
        "backend": backend,
        "workers": workers,
        "subscribers": 100,
        "rate_per_s": rate,
        "commit_to_last_p99_ms": p99,
    }


def test_targets_are_judged_from_the_run_with_the_bounds_that_explain_a_miss() -> None:
    harness = _bench("harness")
    results = {
        "fanout": {
            "1000": {
                "onetask": [_fanout_run(15.0)],
                "baseline": [_fanout_run(20.0)],
                "floor": [_fanout_run(9.0)],
            },
            "5000": {
                "onetask": [_fanout_run(9.0, p99=78.0), _fanout_run(11.0, p99=80.0)],
                "baseline": [_fanout_run(20.0, n=5000)],
                "floor": [_fanout_run(9.0, p99=75.0, n=5000)],
            },
            "10000": {
                "onetask": [
                    _fanout_run(9.0, kib=21.0, n=10000),
                    _fanout_run(9.0, kib=21.0, lost=3, n=10000),
                ],
                "baseline": [_fanout_run(20.0, n=10000)],
            },
        },
        "commit_latency": [
            _latency_run("sqlite+memory", 1, 4.8),
            _latency_run("sqlite+memory", 1, 5.1),
            _latency_run("postgresql+redis", 2, 9.3),
            _latency_run("postgresql+redis", 2, 10.4),
            _latency_run("postgresql+redis", 1, 50.0, rate=50),  # not the target's rate
        ],
    }
    lines = harness.targets(results)
    assert [line.rsplit("-> ", 1)[1].split(" (")[0] for line in lines] == [
        "NOT met",  # 15 / 20 at 1,000
        "met",  # 10 / 20 at 5,000: the median of 9 and 11
        "NOT met",  # 79 ms at 5,000
        "NOT met",  # 21 KiB at 10,000
        "NOT met",  # 3 lost at 10,000
        "NOT met",  # 10.4 ms on PostgreSQL + Redis with 2 processes
        "met",  # 4.8 and 5.1 ms on SQLite
    ]
    # A miss names the bounds: (9 + 3 paced ms per 1k deliveries) / 20, (9 + 3) / 20,
    # and the floor's kernel part 7.2 / 20.
    assert lines[0].endswith(
        "(least possible 0.60, floor + the baseline's bare FastAPI endpoint 0.60,"
        " kernel alone 0.36)"
    )
    assert "(the floor: 75.0 ms)" in lines[2]
    assert "postgresql+redis x1" not in "\n".join(lines)


def test_a_smoke_run_is_judged_against_no_target() -> None:
    harness = _bench("harness")
    smoke = {
        "fanout": {"100": {"onetask": [_fanout_run(40.0)], "baseline": [_fanout_run(50.0)]}},
        "commit_latency": [_latency_run("sqlite+memory", 1, 3.0, rate=50)],
    }
    assert harness.targets(smoke) == []


def test_reminders_bench_measures_the_idle_server_with_and_without_reminders() -> None:
    bench = [sys.executable, str(ROOT / "bench" / "reminders.py")]
    done = subprocess.run(
        [*bench, "--reminders", "500", "--seconds", "1"],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    header, row = done.stdout.splitlines()[1:3]
    assert header.split()[-3:] == ["(baseline)", "500", "ratio"]
    cells = row.split()
    assert cells[:3] == ["ms", "CPU", "/"] and cells[3] == "s"
    assert all(float(cell) >= 0 for cell in cells[4:6]), row
