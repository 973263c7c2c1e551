"""`bench/run --smoke` still works: it runs OneTask and the baseline at N=100 and writes
its numbers. Speed is measured by the bench itself, never asserted here."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

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
    assert float(patch[2].replace(",", "")) > 0 and float(patch[3].replace(",", "")) > 0
    assert patch[4].endswith("x") and float(get[2].replace(",", "")) > 0


def _harness() -> Any:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import harness
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return harness


def test_lower_bound_rows_survive_a_baseline_that_read_no_cpu() -> None:
    """At N=100 a run's CPU can read 0 ticks; the rows then have no ratio, not a crash."""
    harness = _harness()

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
    harness = _harness()
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
        "(least possible 0.60, floor + bare FastAPI endpoint 0.60, kernel alone 0.36)"
    )
    assert "(the floor: 75.0 ms)" in lines[2]
    assert "postgresql+redis x1" not in "\n".join(lines)


def test_a_smoke_run_is_judged_against_no_target() -> None:
    harness = _harness()
    smoke = {
        "fanout": {"100": {"onetask": [_fanout_run(40.0)], "baseline": [_fanout_run(50.0)]}},
        "commit_latency": [_latency_run("sqlite+memory", 1, 3.0, rate=50)],
    }
    assert harness.targets(smoke) == []
