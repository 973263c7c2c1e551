"""Recurring tasks: an RFC 5545 RRULE, read by python-dateutil, in an IANA time zone.

Occurrences are computed in the task's time zone from the series' first due date, so
"every Monday at 09:00 Europe/Paris" stays at 09:00 local time across daylight saving
changes, and COUNT and UNTIL count over the whole series. Only the rule's part names are
checked here (dateutil reads the values): the subset that makes sense for a task's due
date (no sub-daily frequencies, no BYHOUR/BYSETPOS), and INTERVAL and COUNT bounds that
dateutil would otherwise accept and loop on (INTERVAL=0).
"""

from __future__ import annotations

from datetime import MAXYEAR, UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rrulestr

from onetask.errors import InvalidInput

FREQUENCIES = frozenset({"DAILY", "WEEKLY", "MONTHLY", "YEARLY"})
PARTS = frozenset({"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "WKST"})
MAX_INTERVAL = 1000
MAX_COUNT = 10000


def zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"recurrence.tz {tz[:64]!r} is not an IANA time zone name (e.g. Europe/Paris)."
        ) from None


def _parts(rule: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for part in rule.removeprefix("RRULE:").split(";"):
        name, equals, value = part.partition("=")
        if not equals or not value:
            raise InvalidInput(f"recurrence.rule: {part[:50]!r} is not NAME=VALUE.")
        if name not in PARTS:
            allowed = ", ".join(sorted(PARTS))
            raise InvalidInput(f"recurrence.rule: {name[:20]!r} is not supported; use {allowed}.")
        if name in parts:
            raise InvalidInput(f"recurrence.rule: {name} is given twice.")
        parts[name] = value
    return parts


def _check_parts(parts: dict[str, str]) -> None:
    if parts.get("FREQ") not in FREQUENCIES:
        raise InvalidInput(
            "recurrence.rule needs FREQ=DAILY, WEEKLY, MONTHLY or YEARLY "
            "(e.g. FREQ=WEEKLY;BYDAY=MO,WE)."
        )
    for name, top in (("INTERVAL", MAX_INTERVAL), ("COUNT", MAX_COUNT)):
        raw = parts.get(name)
        if raw is not None and not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= top):
            raise InvalidInput(f"recurrence.rule: {name} must be a whole number from 1 to {top}.")
    if "COUNT" in parts and "UNTIL" in parts:
        raise InvalidInput("recurrence.rule: COUNT and UNTIL cannot both be given.")


def _read(parts: dict[str, str], dtstart: datetime) -> rrule:
    text = ";".join(f"{name}={value}" for name, value in parts.items())
    try:
        recurring = rrulestr(text, dtstart=dtstart)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"recurrence.rule is not a valid RRULE: {exc}.") from None
    assert isinstance(recurring, rrule)
    return recurring


def series(rule: str, tz: str, start: datetime) -> rrule:
    """The rule's occurrences from `start` (the series' first due date), in `tz`."""
    parts = _parts(rule.strip().upper())
    _check_parts(parts)
    return _read(parts, start.astimezone(zone(tz)))


def validate(rule: str, tz: str, start: datetime) -> str:
    """The rule, normalized (upper case, no `RRULE:`), if it occurs from `start` on;
    else 422."""
    parts = _parts(rule.strip().upper())
    _check_parts(parts)
    local_start = start.astimezone(zone(tz))
    if not _ever_occurs(parts, local_start):
        raise InvalidInput("recurrence.rule has no occurrence at all (like February 30th).")
    if _read(parts, local_start).after(local_start, inc=True) is None:
        raise InvalidInput("recurrence.rule ends (COUNT or UNTIL) before the task's due date.")
    return ";".join(f"{name}={value}" for name, value in parts.items())


def _ever_occurs(parts: dict[str, str], start: datetime) -> bool:
    """Whether the rule, without COUNT or UNTIL, has any occurrence.

    dateutil searches a rule that has none up to the year 9999 (3 s of CPU for a daily
    one). The Gregorian calendar repeats every 400 years (whole weeks, months and
    years), so the same rule started a multiple of 400 years later occurs if and only if
    it occurs at all, and started within 410 years of 9999 its search is short. A rule
    that occurs at all occurs again within 400 years, so no later search is long."""
    endless = {name: value for name, value in parts.items() if name not in ("COUNT", "UNTIL")}
    later = start.replace(year=start.year + 400 * ((MAXYEAR - 10 - start.year) // 400))
    return _read(endless, later).after(later, inc=True) is not None


def next_due(rule: str, tz: str, start: datetime, after: datetime) -> datetime | None:
    """The first occurrence strictly after `after`, in UTC; None when the series is over."""
    found = series(rule, tz, start).after(after.astimezone(zone(tz)), inc=False)
    return None if found is None else found.astimezone(UTC)
