"""What idle connections cost the server: CPU per second with N sockets that answer pings
and say nothing (protocol pings, pongs, the hub's once-a-second expiry sweep).

    .venv/bin/python bench/idle_heartbeat.py                       # 5,000 sockets, 20 s heartbeat
    .venv/bin/python bench/idle_heartbeat.py --n 10000 --heartbeat 2
    .venv/bin/python bench/idle_heartbeat.py --src /tmp/old/src    # another checkout's code

One OneTask server (harness.Server, SQLite, one process), N subscribers of one workspace
from the load client (the C one where a compiler is found; both answer pings), then the
server's CPU over `--seconds` once every socket has been pinged at least once. Runs of
`--src` (if given) and of this checkout alternate, `--repeats` times each, so a slow hour
of the shared machine weighs on both alike. Not part of CI: it measures, it does not
assert.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Api, Server, Tracker, cpu_seconds, start_load


async def one_run(n: int, heartbeat: float, seconds: float, src: str | None, client: str) -> Any:
    os.environ["ONETASK_WS_HEARTBEAT_S"] = str(heartbeat)
    os.environ["ONETASK_WS_IDLE_TIMEOUT_S"] = str(max(600.0, 4 * seconds))
    if src:
        os.environ["PYTHONPATH"] = src
    else:
        os.environ.pop("PYTHONPATH", None)
    server = Server("onetask")
    server.start(n)
    api = Api(server)
    tracker = Tracker()
    load = None
    try:
        await api.setup(tasks=1)
        load = await start_load(client, server.port, api.ws_path, tracker)
        load.set_target(n)
        failures = await load.open(n)
        await asyncio.sleep(heartbeat + 1.0)  # every slot pinged once; joins settled
        pids = server.pids()
        cpu0, t0 = cpu_seconds(pids), time.perf_counter()
        await asyncio.sleep(seconds)
        cpu1, t1 = cpu_seconds(pids), time.perf_counter()
        return {
            "code": src or "this checkout",
            "n": n,
            "heartbeat_s": heartbeat,
            "client": load.kind,
            "failed": failures,
            "closes": len(tracker.closes),
            "cpu_ms_per_s": (cpu1 - cpu0) / (t1 - t0) * 1000,
        }
    finally:
        if load is not None:
            await load.close()
        await api.close()
        server.stop()


async def main_async(args: argparse.Namespace) -> None:
    codes = ([args.src] if args.src else []) + [None]
    results: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for src in codes:
            run = await one_run(args.n, args.heartbeat, args.seconds, src, args.client)
            print(run, file=sys.stderr, flush=True)
            results.setdefault(run["code"], []).append(run["cpu_ms_per_s"])
    for code, values in results.items():
        shown = ", ".join(f"{v:.1f}" for v in values)
        print(
            f"{code}: N={args.n}, heartbeat {args.heartbeat} s: median "
            f"{statistics.median(values):.1f} ms of server CPU per second ({shown})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--heartbeat", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=40.0, help="measured window")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--src", help="a src/ directory to measure as well (PYTHONPATH)")
    parser.add_argument("--client", choices=("auto", "c", "python"), default="auto")
    uvloop.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
