"""`bench/run --smoke` still works: it runs OneTask and the baseline at N=100 and writes
its numbers. Speed is measured by the bench itself, never asserted here."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_smoke_completes_and_reports_numbers(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(ROOT / "bench" / "run"), "--smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| metric | N | OneTask | baseline | ratio | floor | OneTask / floor |" in done.stdout
    [result_file] = tmp_path.glob("*.json")
    results = json.loads(result_file.read_text())
    for kind in ("onetask", "baseline", "floor"):
        [run] = results["fanout"]["100"][kind]
        assert run["connected"] == 100
        assert run["lost"] == 0
        numbers = [
            run["isolated"]["last_subscriber_p99_ms"],
            run["isolated"]["server_cpu_ms_per_1k"],
            run["sustained"]["deliveries_per_s"],
            run["kib_per_idle_connection"],
            run["isolated"]["client_cpu_ms_per_1k"],
        ]
        assert all(isinstance(x, float) and math.isfinite(x) for x in numbers), numbers
    [latency] = results["commit_latency"]
    assert latency["complete_events"] > 0
