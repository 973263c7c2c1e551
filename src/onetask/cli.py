"""`onetask serve | db upgrade`."""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import resource
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from typing import Any

import uvicorn
from pydantic import ValidationError

from onetask.config import ConfigError, Settings
from onetask.logs import configure
from onetask.metrics import GC_FROZEN, Metrics
from onetask.preflight import Unreachable, check_reachable
from onetask.realtime.transport import OneTaskWebSocketProtocol
from onetask.slow_requests import ServerConfig

# Exit statuses (README, Command line). 3 is uvicorn's: the application failed to start.
EXIT_CONFIGURATION = 2
EXIT_UNREACHABLE = 4

GC_GEN0_THRESHOLD = 10_000  # allocations between young collections (CPython: 700)
# A worker that dies within WORKER_YOUNG_S of starting is restarted after a pause that
# doubles from RESTART_BACKOFF_MIN_S up to RESTART_BACKOFF_MAX_S.
WORKER_YOUNG_S = 10.0
RESTART_BACKOFF_MIN_S = 0.5
RESTART_BACKOFF_MAX_S = 30.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="onetask", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP and WebSocket server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    db = commands.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade"])
    args = parser.parse_args(argv)
    try:
        settings = Settings()
        if args.command == "db":
            from onetask.db.engine import prepare_sqlite
            from onetask.db.migrate import upgrade

            prepare_sqlite(settings)
            check_reachable(settings, broker=False)
            upgrade(settings.resolved_database_url)
            print("database is up to date")
            return 0
        return _serve(settings, args.host, args.port, args.workers)
    except ConfigError as exc:
        print(f"onetask: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIGURATION
    except Unreachable as exc:
        print(f"onetask: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except ValidationError as exc:
        print(f"onetask: configuration error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_CONFIGURATION


def _one_line(error: ValidationError) -> str:
    """pydantic's report spans several lines per error; one line names each setting."""
    problems = []
    for e in error.errors():
        name = "ONETASK_" + "_".join(map(str, e["loc"])).upper()
        shown = "" if "SECRET" in name else f" (got {e['input']!r})"
        problems.append(f"{name}: {e['msg']}{shown}")
    return "; ".join(problems)


def _serve(settings: Settings, host: str, port: int, workers: int) -> int:
    if workers < 1:
        raise ConfigError("--workers must be at least 1.")
    if workers > 1 and settings.uses_memory_broker:
        raise ConfigError(
            "--workers > 1 needs a shared broker: with the in-process broker, events made in "
            "one worker would never reach sockets held by another. Set "
            "ONETASK_BROKER_URL=redis://… (and a shared ONETASK_DATABASE_URL), or use one worker."
        )
    if workers > 1 and settings.is_sqlite:
        raise ConfigError("--workers > 1 needs PostgreSQL (ONETASK_DATABASE_URL).")
    check_reachable(settings)
    settings.signing_key  # noqa: B018  (creates the embedded secret before anything forks)
    _raise_fd_limit()
    config = ServerConfig(
        "onetask.app:create_app",
        request_timeout_s=settings.request_timeout_s,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=configure(settings.log_level),
        ws_ping_interval=settings.ws_heartbeat_s,
        ws_ping_timeout=settings.ws_heartbeat_s,
        ws_max_size=settings.ws_max_message_bytes,
        # Frames are written once per event and shared by every subscriber, so they
        # must be identical for all: no per-connection compression.
        ws=OneTaskWebSocketProtocol,
        ws_per_message_deflate=False,
        # Believe X-Forwarded-For/-Proto only from the configured proxies (uvicorn's own
        # default trusts 127.0.0.1, which would let any local client pick its address).
        proxy_headers=settings.forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.forwarded_allow_ips or "",
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    if workers > 1:
        return _supervise(config, workers)
    GracefulServer(config).run()
    return 0


def _raise_fd_limit() -> None:
    """One file descriptor per connection: allow as many as the hard limit does (the
    soft limit is often 1024). An unlimited hard limit (macOS) is not a value the soft
    limit may take: then the largest of a few sizes that the system accepts."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft == hard:
        return
    targets = [hard] if hard != resource.RLIM_INFINITY else [1 << 20, 1 << 16, 10240]
    for target in targets:
        if target <= soft:
            return
        with suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return


def _supervise(config: uvicorn.Config, workers: int) -> int:
    """Run `workers` processes on one listening socket; restart any that dies.

    A worker that dies young is restarted after a pause that doubles each time (up to
    `RESTART_BACKOFF_MAX_S`), not in a tight loop. If a worker fails before any worker
    has ever started (the database is unreachable, the configuration is wrong), the
    supervisor stops the others and exits with that worker's status, as one worker would.
    """
    sock = config.bind_socket()
    spawn = multiprocessing.get_context("spawn")
    started = spawn.Event()  # set by the first worker whose application has started
    stopping = False

    def start() -> BaseProcess:
        process = spawn.Process(target=_worker, args=(config, sock, started), daemon=False)
        process.start()
        return process

    processes = [start() for _ in range(workers)]
    born = [time.monotonic()] * workers
    backoff = [0.0] * workers
    restart_at: list[float | None] = [None] * workers

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    while not stopping:
        time.sleep(0.2)
        now = time.monotonic()
        for i, process in enumerate(processes):
            if stopping or process.is_alive():
                continue
            if restart_at[i] is None:
                if not started.is_set():
                    print(
                        f"onetask: worker {process.pid} failed to start "
                        f"(exit status {process.exitcode}); stopping",
                        file=sys.stderr,
                    )
                    status = process.exitcode or 1
                    stop(signal.SIGTERM, None)
                    break
                young = now - born[i] < WORKER_YOUNG_S
                backoff[i] = (
                    min(max(backoff[i] * 2, RESTART_BACKOFF_MIN_S), RESTART_BACKOFF_MAX_S)
                    if young
                    else 0.0
                )
                restart_at[i] = now + backoff[i]
                print(
                    f"onetask: worker {process.pid} exited ({process.exitcode}); "
                    f"restarting in {backoff[i]:.1f} s",
                    file=sys.stderr,
                )
            if now >= (restart_at[i] or 0.0):
                processes[i], born[i], restart_at[i] = start(), now, None
    for process in processes:
        process.join()
    return status


def _worker(config: uvicorn.Config, sock: socket.socket, started: Event) -> None:
    # A spawned process starts with logging unconfigured: without this, a worker writes
    # no log at all, not even its access log.
    config.configure_logging()
    server = GracefulServer(config)
    server.on_started = started.set
    server.run(sockets=[sock])


class GracefulServer(uvicorn.Server):
    """Close sockets with 1001 (after flushing their queues) before uvicorn stops."""

    on_started: Callable[[], None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)  # exits the process if the application fails
        state = _find_state(getattr(self.config, "loaded_app", None))
        _settle_heap(None if state is None else state.metrics)
        if self.on_started is not None:
            self.on_started()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        state = _find_state(getattr(self.config, "loaded_app", None))
        if state is not None:
            await state.hub.stop()
        await super().shutdown(sockets)


def _settle_heap(metrics: Metrics | None) -> None:
    """Keep the cyclic GC's pauses short once the app is up.

    Everything alive after startup (modules, the app, SQLAlchemy's and pydantic's
    caches) lives as long as the process, yet each full collection walked it again: 45 to
    330 ms of stopped event loop with a few thousand sockets open. Freezing moves it out
    of the collector's sight, and a larger first generation makes the remaining
    collections rarer; cycles are still collected."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 10, 10)
    if metrics is None:
        return
    frozen = gc.get_freeze_count()
    metrics.set(GC_FROZEN, "Objects kept out of the garbage collector at startup", frozen)
    started = 0.0

    def time_collections(phase: str, info: dict[str, int]) -> None:
        nonlocal started
        if phase == "start":
            started = time.perf_counter()
        else:
            metrics.gc_pause.observe(time.perf_counter() - started)

    gc.callbacks.append(time_collections)


def _find_state(app: Any) -> Any:
    # uvicorn wraps the app in middleware; walk down to the FastAPI instance.
    for _ in range(10):
        state = getattr(app, "state", None)
        if state is not None and hasattr(state, "hub"):
            return state
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


if __name__ == "__main__":
    sys.exit(main())
