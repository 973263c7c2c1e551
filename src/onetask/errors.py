"""One error base class, rendered as application/problem+json (RFC 9457)."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("onetask")

PROBLEM = "application/problem+json"


class OneTaskError(Exception):
    status: int = 400
    title: str = "Bad request"
    slug: str = "bad-request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = headers
        self.errors = errors


class NotFound(OneTaskError):
    status, title, slug = 404, "Not found", "not-found"


class Forbidden(OneTaskError):
    status, title, slug = 403, "Forbidden", "forbidden"


class Conflict(OneTaskError):
    status, title, slug = 409, "Conflict", "conflict"


class Unauthorized(OneTaskError):
    status, title, slug = 401, "Unauthorized", "unauthorized"

    def __init__(self, detail: str | None = None):
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class PreconditionFailed(OneTaskError):
    status, title, slug = 412, "Precondition failed", "precondition-failed"


class InvalidInput(OneTaskError):
    status, title, slug = 422, "Invalid input", "invalid-input"


def input_error(loc: list[str | int], msg: str, type: str) -> dict[str, Any]:
    """One entry of a problem's `errors[]`, shaped like a field validation error."""
    return {"loc": loc, "msg": msg, "type": type}


class TooManyRequests(OneTaskError):
    status, title, slug = 429, "Too many requests", "too-many-requests"

    def __init__(self, detail: str, retry_after_s: int):
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after_s))})


class ProblemField(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemField] | None = None


def problem_response(
    status: int,
    title: str,
    detail: str,
    slug: str,
    *,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://onetask.dev/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {
            "loc": [str(p) if not isinstance(p, int) else p for p in e["loc"]],
            "msg": e["msg"],
            "type": e["type"],
        }
        for e in exc.errors()
    ]


_HTTP_SLUGS = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large"}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OneTaskError)
    async def _domain(_: Request, exc: OneTaskError) -> JSONResponse:
        return problem_response(
            exc.status, exc.title, exc.detail, exc.slug, headers=exc.headers, errors=exc.errors
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:5])
        return problem_response(422, "Invalid input", detail, "invalid-input", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Error")
        slug = _HTTP_SLUGS.get(exc.status_code, "http-error")
        return problem_response(
            exc.status_code,
            title,
            str(exc.detail),
            slug,
            headers=dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    @app.exception_handler(OSError)
    @app.exception_handler(RedisError)
    async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
        what, why = _unavailable_service(exc)
        log.warning("%s unavailable: %s", what, type(exc).__name__)
        return problem_response(
            503,
            "Service unavailable",
            f"The {what} is {why}; retry shortly.",
            "unavailable",
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(DBAPIError)
    async def _dbapi(_: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated or _is_outage(exc):
            return await _unavailable(_, exc)
        log.exception("database error")
        return problem_response(500, "Internal error", "Unexpected database error.", "internal")


# SQLSTATE classes of a server that is down, starting, stopping or out of connections
# (08 connection exception, 53 insufficient resources, 57P operator intervention): the
# request may succeed shortly, so 503, not 500.
_OUTAGE_SQLSTATES = ("08", "53", "57P")


def outage(exc: BaseException) -> str | None:
    """What a failure says about a service that may answer shortly ("the database is
    locked by another process", "the broker is unreachable"), or None for any other
    failure (a defect, worth its traceback)."""
    if isinstance(exc, DBAPIError) and not isinstance(exc, OperationalError):
        if not (exc.connection_invalidated or _is_outage(exc)):
            return None
    elif not isinstance(exc, OperationalError | PoolTimeout | OSError | RedisError):
        return None
    what, why = _unavailable_service(exc)
    return f"the {what} is {why}"


def log_failed_round(logger: logging.Logger, what: str, exc: BaseException) -> None:
    """A background loop's round failed and will be retried: a service being unavailable
    is one warning line per round (an outage would otherwise fill the log with
    tracebacks); anything else is logged with its traceback."""
    reason = outage(exc)
    if reason is None:
        logger.error("%s failed; retrying", what, exc_info=exc)
    else:
        said = str(getattr(exc, "orig", None) or exc).partition("\n")[0][:200]
        logger.warning("%s failed: %s (%s: %s); retrying", what, reason, type(exc).__name__, said)


def _unavailable_service(exc: BaseException) -> tuple[str, str]:
    what = "broker" if isinstance(exc, RedisError) else "database"
    if _is_locked(exc):
        return what, "locked by another process"
    if isinstance(exc, PoolTimeout):  # every connection in use for pool_timeout
        return what, "busy"
    return what, "unreachable"


def _is_locked(exc: BaseException) -> bool:
    """SQLite's write lock held by another process past the busy timeout."""
    orig = getattr(exc, "orig", None)
    return isinstance(orig, sqlite3.OperationalError) and "locked" in str(orig)


def _is_outage(exc: DBAPIError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(_OUTAGE_SQLSTATES)
