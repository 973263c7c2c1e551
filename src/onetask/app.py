"""create_app(settings): routers, error handlers, and the real-time machinery's lifespan."""

from __future__ import annotations

import logging
import resource
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onetask import __version__, idempotency
from onetask.api_tokens.router import router as api_tokens_router
from onetask.auth.janitor import RefreshTokenJanitor
from onetask.auth.ratelimit import (
    MemoryLoginCounter,
    MemoryWriteCounter,
    RedisLoginCounter,
    RedisWriteCounter,
)
from onetask.auth.router import router as auth_router
from onetask.auth.router import users as users_router
from onetask.auth.service import LoginLimits, WriteLimit
from onetask.config import Settings
from onetask.db.engine import Database
from onetask.db.migrate import upgrade_async
from onetask.docs import install_docs
from onetask.errors import Problem, install_error_handlers, problem_response
from onetask.events.outbox import EVENTS_COMMITTED, CommittedEvent
from onetask.focus.router import router as focus_router
from onetask.focus.scheduler import FocusPhases
from onetask.logs import install_redaction
from onetask.metrics import LoopLag, Metrics
from onetask.notifications.router import router as notifications_router
from onetask.openapi import problems
from onetask.realtime.broker import create_broker
from onetask.realtime.endpoints import router as ws_router
from onetask.realtime.endpoints import serve_directly
from onetask.realtime.focus_socket import FocusLive
from onetask.realtime.hub import Hub
from onetask.realtime.pages import router as pages_router
from onetask.realtime.relay import Relay
from onetask.reminders.router import router as reminders_router
from onetask.reminders.service import ReminderWork
from onetask.routing import NO_IDEMPOTENCY
from onetask.scheduler import Scheduler
from onetask.sync.router import router as sync_router
from onetask.tasks.overdue import OverdueTasks
from onetask.tasks.router import router as tasks_router
from onetask.webhooks.router import router as webhooks_router
from onetask.webhooks.work import Webhooks
from onetask.workspaces.router import router as workspaces_router

log = logging.getLogger("onetask")

_TAGS = [
    "auth",
    "users",
    "workspaces",
    "tasks",
    "notifications",
    "focus sessions",
    "webhooks",
    "sync",
    "api tokens",
    "real-time",
    "operations",
]


class OneTaskAPI(FastAPI):
    """FastAPI, with the WebSocket routes served before any of its middleware (see
    `realtime.endpoints.serve_directly`). HTTP requests and the lifespan go through it
    all; a WebSocket scope needs none of it (error pages, CORS and body limits are for
    HTTP), and each idle socket kept five framework frames alive, 1.5 KiB."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and await serve_directly(self, scope, receive, send):
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    install_redaction()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(app, settings):
            yield

    app = OneTaskAPI(
        title="OneTask",
        version=__version__,
        description="Workspaces of tasks, a notification inbox and focus sessions, "
        "with every change pushed over WebSockets. The WebSocket contract is at "
        "`/asyncapi.json`.",
        lifespan=lifespan,
        openapi_tags=[{"name": tag} for tag in _TAGS],
        docs_url=None,  # served by `install_docs`, without a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    install_error_handlers(app)
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["ETag"],
        )
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)

    # Each router hangs off the app itself, busiest first: a request is matched against
    # the routes in order, and every level of nesting matches its routes twice (to pick
    # the router, then the route); a task PATCH took 42 route matches, now 8. The
    # documentation keeps its own order (`_TAGS`).
    for router in (
        tasks_router,
        notifications_router,
        workspaces_router,
        focus_router,
        webhooks_router,
        reminders_router,
        users_router,
        sync_router,
        api_tokens_router,
        auth_router,
        ws_router,
    ):
        app.include_router(router, prefix="/api/v1")
    app.include_router(_operations_router())
    app.include_router(pages_router)
    install_docs(app)
    app.openapi_schema = None
    _register_problem_schema(app)
    return app


@asynccontextmanager
async def running(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    """Start database, broker, relay and hub; stop them in reverse, sockets first."""
    metrics: Metrics = app.state.metrics
    open_files, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    log.info("OneTask %s: %s; open files limit %s", __version__, settings.describe(), open_files)
    database = Database(settings)
    if settings.auto_migrate:
        await upgrade_async(settings.resolved_database_url)
    broker = create_broker(settings.broker_url, settings.broker_namespace)
    hub = Hub(settings, database, metrics)
    relay = Relay(
        database,
        broker,
        metrics,
        sweep_interval_s=settings.relay_sweep_interval_s,
        retention_s=settings.event_retention_s,
        crash_after_commit=settings.fault_crash_after_commit,
        deliver_locally=hub.on_local_commit,
    )
    app.state.webhooks = webhooks = Webhooks(database, settings, metrics)

    def events_committed(events: list[CommittedEvent]) -> None:
        relay.notify(events)
        webhooks.on_events_committed(events)

    database.listeners[EVENTS_COMMITTED] = events_committed
    app.state.database, app.state.hub, app.state.broker = database, hub, broker
    app.state.relay = relay
    scheduler = Scheduler(
        database, settings, [FocusPhases(), ReminderWork(), OverdueTasks(), *webhooks.kinds]
    )
    app.state.focus_live = focus_live = FocusLive(database, settings)
    limits_redis = None if settings.uses_memory_broker else _limits_redis(settings)
    app.state.login_limits = _login_limits(settings, limits_redis)
    app.state.write_limit = _write_limit(settings, limits_redis)
    app.state.refresh_token_janitor = janitor = RefreshTokenJanitor(
        database, settings.refresh_token_purge_interval_s
    )
    await broker.start(hub.on_events, hub.on_broker_reconnect)
    await hub.start()
    await relay.start()
    await focus_live.start()
    await webhooks.start()
    await scheduler.start()
    janitor.start()
    database.start(metrics.wal_checkpointed)
    loop_lag = LoopLag(metrics.loop_lag)
    loop_lag.start()
    try:
        yield
    finally:
        loop_lag.stop()
        await scheduler.stop()
        await webhooks.stop()
        await hub.stop()
        await focus_live.stop()
        await relay.stop()
        await broker.close()
        await janitor.stop()
        if limits_redis is not None:
            await limits_redis.aclose()
        await database.dispose()


def _limits_redis(settings: Settings) -> Redis:
    # One reconnect (a pooled connection may predate a Redis restart), then the error:
    # redis-py's default (ten retries, backoff up to 1 s) would hold a request for
    # seconds while Redis is down, where a login should be a prompt 503 and a write go on
    # without it.
    return Redis.from_url(
        settings.broker_url,
        socket_connect_timeout=2,
        socket_timeout=5,
        retry=Retry(NoBackoff(), 1),
    )


def _login_limits(settings: Settings, redis: Redis | None) -> LoginLimits:
    window, namespace = settings.login_window_s, settings.broker_namespace
    counter = (
        MemoryLoginCounter(window) if redis is None else RedisLoginCounter(redis, window, namespace)
    )
    return LoginLimits(
        counter,
        failures_per_account=settings.login_max_failures_per_account,
        failures_per_address=settings.login_max_failures_per_address,
        per_account=settings.logins_per_account,
        per_address=settings.logins_per_address,
    )


# Where a person who opens the server's address should go next.
_SIGNPOSTS = {
    "docs": ("/docs", "REST API documentation (Swagger UI)"),
    "redoc": ("/redoc", "REST API documentation (ReDoc)"),
    "openapi": ("/openapi.json", "the REST contract (OpenAPI)"),
    "asyncapi": ("/asyncapi.json", "the WebSocket contract (AsyncAPI)"),
    "ws_test": ("/ws-test", "a page to try the WebSockets in a browser"),
    "healthz": ("/healthz", "liveness"),
    "readyz": ("/readyz", "readiness: database and broker reachable"),
}


async def _index(request: Request) -> Response:
    """A browser gets a page of links; anything else, the same links as JSON."""
    if "text/html" in request.headers.get("accept", ""):
        items = "".join(
            f'<li><a href="{path}">{path}</a>: {what}</li>' for path, what in _SIGNPOSTS.values()
        )
        return HTMLResponse(
            f"<!doctype html><meta charset=utf-8><title>OneTask</title>"
            f"<h1>OneTask {__version__}</h1><p>The REST API is under /api/v1.</p><ul>{items}</ul>"
        )
    links = {name: path for name, (path, _) in _SIGNPOSTS.items()}
    return JSONResponse({"name": "OneTask", "version": __version__, "api": "/api/v1", **links})


def _write_limit(settings: Settings, redis: Redis | None) -> WriteLimit:
    counter = (
        MemoryWriteCounter(60)
        if redis is None
        else RedisWriteCounter(redis, 60, settings.broker_namespace)
    )
    return WriteLimit(counter, settings.writes_per_minute)


def _operations_router() -> APIRouter:
    router = APIRouter(tags=["operations"])
    router.add_api_route("/", _index, methods=["GET"], include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", responses={503: {"model": Problem}})
    async def readyz(request: Request) -> Any:
        database: Database = request.app.state.database
        database_problem = await database.unready_reason()
        broker_ok = await request.app.state.broker.ping()
        if database_problem is None and broker_ok:
            return {"status": "ready", "database": "ok", "broker": "ok"}
        problems = [f"database {database_problem}"] if database_problem else []
        problems += [] if broker_ok else ["broker unreachable"]
        return problem_response(
            503, "Not ready", f"Not ready: {', '.join(problems)}.", "unavailable"
        )

    @router.get("/metrics", response_class=PlainTextResponse)
    async def metrics(request: Request) -> PlainTextResponse:
        return PlainTextResponse(
            request.app.state.metrics.render(), media_type="text/plain; version=0.0.4"
        )

    return router


def _register_problem_schema(app: FastAPI) -> None:
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
            Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        )
        schema["components"]["schemas"].setdefault(
            "ProblemField", Problem.model_json_schema()["$defs"]["ProblemField"]
        )
        _document_write_limit(schema)
        _document_idempotency_key(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document_write_limit(schema: dict[str, Any]) -> None:
    """Every signed-in write can meet the per-user write budget (`auth.deps`)."""
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            responses = operation.get("responses", {})
            if method in ("post", "put", "patch", "delete") and "security" in operation:
                responses.setdefault("429", problems(429)[429])


def _document_idempotency_key(schema: dict[str, Any]) -> None:
    """Every signed-in write takes an `Idempotency-Key` (see `onetask.idempotency`)."""
    header = {
        "name": idempotency.HEADER,
        "in": "header",
        "required": False,
        "description": "Makes a retry safe: a request repeated with the same key (yours, "
        "kept at least 24 h) gets the first answer again, with `Idempotent-Replayed: "
        "true`, and changes nothing. The same key with another method, path or body: 422.",
        "schema": {"type": "string", "minLength": 1, "maxLength": idempotency.MAX_KEY_LENGTH},
    }
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in ("post", "put", "patch", "delete") or "security" not in operation:
                continue
            if NO_IDEMPOTENCY in operation:
                continue
            operation.setdefault("parameters", []).append(header)


class BodyLimit:
    """413 problem+json for request bodies over the limit, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._too_large(scope, receive, send)
            return
        seen, exceeded, started = 0, False, False

        async def limited() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                exceeded = True
                raise _TooLarge
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if exceeded:  # FastAPI turns the cut-off body into a 400: the answer is 413
                return
            started = True
            await send(message)

        with suppress(_TooLarge):
            await self.app(scope, limited, guarded)
        if exceeded and not started:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response: JSONResponse = problem_response(
            413,
            "Payload too large",
            f"Request bodies are limited to {self.max_bytes} bytes.",
            "payload-too-large",
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass
