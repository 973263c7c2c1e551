"""Problem responses documented in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from onetask.errors import PROBLEM

_DESCRIPTIONS = {
    401: "Missing, invalid or expired access token",
    403: "Not allowed",
    404: "Not found, or not visible to you",
    409: "Conflicts with the current state",
    412: "The resource changed since the version given in If-Match",
    422: "Invalid input: a field, an unknown query parameter, or a body that is not JSON "
    "(a form, for login); `errors` lists each problem",
    429: "Too many requests; see Retry-After",
    503: "Database unreachable; retry shortly",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    # No `model`: FastAPI would also list the body under application/json, which a
    # problem never is. The Problem schema itself is registered by the app.
    return {
        status: {
            "description": _DESCRIPTIONS[status],
            "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
