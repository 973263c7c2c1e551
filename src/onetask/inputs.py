"""Constraints every request input shares: only what the database can store gets past
validation, so bad input is a 422 and never a database error (a 500) on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, Field

# Ids are INTEGER columns: 32 bits on PostgreSQL. A larger id names nothing.
MAX_ID = 2**31 - 1

Id = Annotated[int, Field(ge=1, le=MAX_ID)]

# An id in a URL path, documented with the range a row's id can have. Out of the range it
# names nothing, as an id that was deleted does; the answer is the same, the resource's
# 404, so each router adds its own error: `Annotated[PathId, or_not_found(TaskNotFound)]`.
PathId = Annotated[int, Path(json_schema_extra={"minimum": 1, "maximum": MAX_ID})]


def or_not_found(not_found: Callable[[], Exception]) -> AfterValidator:
    """Raise `not_found()` for an id no row can have. Raised from inside validation, it
    reaches the error handlers as it is (pydantic collects only ValueError and
    AssertionError as validation errors, the 422s)."""

    def in_range(value: int) -> int:
        if not 0 < value <= MAX_ID:
            raise not_found()
        return value

    return AfterValidator(in_range)


def is_ascii_number(raw: str) -> bool:
    """`str.isdigit` alone accepts a superscript two (which int() refuses) and an
    Arabic-Indic one (which int() reads as 1): only ASCII digits are numbers here."""
    return raw.isascii() and raw.isdigit()


def id_from_text(raw: str) -> int | None:
    """The id written in `raw` (ASCII digits only), or None when no row can have it."""
    if not is_ascii_number(raw) or len(raw) > len(str(MAX_ID)):
        return None
    value = int(raw)
    return value if 0 < value <= MAX_ID else None


def storable(value: str) -> bool:
    """PostgreSQL text cannot hold NUL, nor UTF-8 encode a lone surrogate."""
    if "\x00" in value:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _storable_text(value: str) -> str:
    if not storable(value):
        raise ValueError("must not contain NUL characters or unpaired surrogates")
    return value


# Append to any `Annotated[str, ...]` that reaches the database.
StorableText = AfterValidator(_storable_text)


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must include a time zone offset, e.g. 2025-04-01T12:00:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00:00+05:00 is before year 1 in UTC
        raise ValueError("is out of the supported range once converted to UTC") from exc


AwareDatetime = Annotated[datetime, AfterValidator(_aware_utc)]
