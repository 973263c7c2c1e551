"""Opaque pagination cursors: a small JSON object, URL-safe base64, no padding."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from onetask.errors import InvalidInput


def encode_cursor(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    """The payload; a cursor that is not one of ours is a 422."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise malformed() from exc
    if not isinstance(payload, dict):
        raise malformed()
    return payload


def malformed() -> InvalidInput:
    return InvalidInput(
        "The cursor is malformed or was made for another query; start again without it."
    )
