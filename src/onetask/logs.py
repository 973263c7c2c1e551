"""Logging set-up. Logs never show tokens: query parameters whose name, once decoded,
names a secret (`token=`, `%74oken=`, `TOKEN=`, `access_token=`…) have their values
redacted, and so does anything shaped like a JWT, wherever it appears."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote_plus

# `name=value` where a query parameter may start. `#` and `;` count as starts too: a
# WebSocket request line keeps its fragment in the query string, and a name after either
# must not hide behind them. A value ends where the server's own parsing would end it.
_PARAMETER = re.compile(r"(?:^|(?<=[?&;#]))([^=&;#?\s\"]+)=([^&#;\s\"]*)")
# A JWT (base64url `{"` starts the header), with its dots possibly percent-encoded.
_JWT = re.compile(r"eyJ[\w-]*(?:\.|%2[eE])[\w-]+(?:\.|%2[eE])[\w-]*")
_SECRET_NAMES = ("token", "password", "secret")
REDACTED = "[redacted]"


def _names_a_secret(raw_name: str) -> bool:
    # Decoded as the server decodes it, and again: `%2574oken` is `%74oken` once decoded.
    name = raw_name
    for _ in range(3):
        decoded = unquote_plus(name)
        if decoded == name:
            break
        name = decoded
    folded = name.casefold()
    return any(secret in folded for secret in _SECRET_NAMES)


def _redact_parameter(match: re.Match[str]) -> str:
    name, value = match.group(1), match.group(2)
    if _names_a_secret(name) or ("%" in value and _hides_a_secret(unquote_plus(value))):
        return f"{name}={REDACTED}"
    return match.group(0)


def _hides_a_secret(decoded_value: str) -> bool:
    """`x=1%26token%3D…` decodes to a value holding a secret parameter of its own."""
    return "=" in decoded_value and redact(decoded_value) != decoded_value


def redact(text: str) -> str:
    if "=" in text:
        text = _PARAMETER.sub(_redact_parameter, text)
    return _JWT.sub(REDACTED, text) if "eyJ" in text else text


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install_redaction() -> None:
    for name in ("uvicorn.access", "uvicorn.error", "uvicorn", "onetask"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())


def configure(level: str) -> dict[str, Any]:
    """A uvicorn log config whose handlers redact tokens whatever logger they serve."""
    redactor = {"()": "onetask.logs.RedactTokens"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": redactor},
        "formatters": {
            "default": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(asctime)s %(levelname)s access: %(client_addr)s "%(request_line)s" '
                "%(status_code)s",
            },
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["redact"],
                "stream": "ext://sys.stderr",
            },
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "access",
                "filters": ["redact"],
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": ["access"], "level": level.upper(), "propagate": False},
            "onetask": {"handlers": ["default"], "level": level.upper(), "propagate": False},
        },
    }
