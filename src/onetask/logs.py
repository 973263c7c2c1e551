"""Logging set-up. Access logs never show tokens: `token=` values are redacted."""

from __future__ import annotations

import logging
import re
from typing import Any

_TOKEN = re.compile(r"((?:^|[?&])(?:token|access_token|refresh_token)=)[^&\s\"]*")


def redact(text: str) -> str:
    return _TOKEN.sub(r"\1[redacted]", text)


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
