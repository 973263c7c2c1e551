"""WebSocket close codes (PRODUCT.md §4): what each means and what a client should do.

One table for every consumer: the Python client's reconnect policy, the AsyncAPI
document and the test page (whose copy a test keeps in step with this one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# stop: do not reconnect; reconnect: reconnect (with since) after a backoff delay;
# backoff: reconnect after a long delay; relogin: get a new token, then reconnect.
ClientAction = Literal["stop", "reconnect", "backoff", "relogin"]


@dataclass(frozen=True)
class CloseCode:
    code: int
    name: str
    meaning: str
    advice: str
    action: ClientAction


CLOSE_CODES: dict[int, CloseCode] = {
    c.code: c
    for c in (
        CloseCode(
            1000,
            "normal",
            "normal closure (session ended, client closed)",
            "do not reconnect",
            "stop",
        ),
        CloseCode(
            1001,
            "going_away",
            "server shutting down or restarting",
            "reconnect with since, with backoff",
            "reconnect",
        ),
        CloseCode(
            1002,
            "protocol_error",
            "WebSocket protocol error (a malformed or unmasked frame, a reserved opcode)",
            "fix the client or its WebSocket library",
            "stop",
        ),
        CloseCode(
            1007,
            "invalid_data",
            "a text frame that is not valid UTF-8",
            "fix the client: send text frames as UTF-8",
            "stop",
        ),
        CloseCode(1008, "origin_not_allowed", "origin not allowed", "stop", "stop"),
        CloseCode(1009, "message_too_big", "message too big", "fix the client", "stop"),
        CloseCode(
            1011,
            "unavailable",
            "server error (database or broker unreachable)",
            "reconnect with since, with backoff",
            "reconnect",
        ),
        CloseCode(
            4400, "bad_request", "bad request (e.g. malformed since)", "fix the client", "stop"
        ),
        CloseCode(
            4401,
            "unauthorized",
            "missing, invalid, expired or revoked token",
            "get a new token, then reconnect",
            "relogin",
        ),
        CloseCode(
            4403, "access_revoked", "access revoked (removed from the workspace)", "stop", "stop"
        ),
        CloseCode(
            4404,
            "not_found",
            "workspace, focus session or socket path does not exist, or is not visible",
            "stop",
            "stop",
        ),
        CloseCode(
            4408,
            "idle_timeout",
            "idle timeout: no message and no answer to pings for idle_timeout_s",
            "reconnect with since (the client was asleep, frozen or offline)",
            "reconnect",
        ),
        CloseCode(4429, "rate_limited", "rate limited", "back off", "backoff"),
        CloseCode(
            4508, "fell_behind", "fell behind (slow consumer)", "reconnect with since", "reconnect"
        ),
    )
}

ABNORMAL = CloseCode(
    1006,
    "abnormal",
    "connection lost without a close frame",
    "reconnect with since, with backoff",
    "reconnect",
)


MAX_REASON_BYTES = 123  # a close frame's payload is at most 125 bytes, 2 of them the code


def close_reason(code: int) -> str:
    """The reason every close frame the server sends carries (a browser's
    `CloseEvent.reason`): the code's meaning, cut to fit a close frame."""
    reason = describe(code).meaning.encode()[:MAX_REASON_BYTES]
    return reason.decode(errors="ignore")  # a cut inside a character drops it


def describe(code: int) -> CloseCode:
    if code in CLOSE_CODES:
        return CLOSE_CODES[code]
    if code == 1006:
        return ABNORMAL
    return CloseCode(
        code,
        "unknown",
        f"closed with code {code}",
        "reconnect with since, with backoff",
        "reconnect",
    )
