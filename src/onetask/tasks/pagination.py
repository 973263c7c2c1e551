"""Keyset pagination over tasks for every sort order, with opaque cursors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal, tuple_

from onetask.cursors import decode_cursor, encode_cursor, malformed
from onetask.db.models import Task
from onetask.inputs import MAX_ID, storable

PRIORITY_RANK = {"low": 0, "medium": 1, "high": 2, "urgent": 3}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SortKey:
    """Columns to order by (all in one direction, `id` last) and the same key in Python."""

    columns: Callable[[], list[Any]]
    of: Callable[[Task], list[Any]]
    kinds: tuple[str, ...]  # how each cursor value is decoded: "int", "str" or "dt"


def _due_columns(descending: bool) -> list[Any]:
    # Tasks without a due date come last in both directions.
    missing = case((Task.due_date.is_(None), 0 if descending else 1), else_=1 if descending else 0)
    return [missing, func.coalesce(Task.due_date, literal(_EPOCH, Task.due_date.type)), Task.id]


def _due_of(descending: bool) -> Callable[[Task], list[Any]]:
    def key(t: Task) -> list[Any]:
        missing = t.due_date is None
        return [int(not missing if descending else missing), t.due_date or _EPOCH, t.id]

    return key


_KEYS: dict[str, SortKey] = {
    "created_at": SortKey(
        lambda: [Task.created_at, Task.id], lambda t: [t.created_at, t.id], ("dt", "int")
    ),
    "updated_at": SortKey(
        lambda: [Task.updated_at, Task.id], lambda t: [t.updated_at, t.id], ("dt", "int")
    ),
    "title": SortKey(lambda: [Task.title, Task.id], lambda t: [t.title, t.id], ("str", "int")),
    "priority": SortKey(
        lambda: [case(PRIORITY_RANK, value=Task.priority), Task.id],
        lambda t: [PRIORITY_RANK[t.priority], t.id],
        ("int", "int"),
    ),
}


def sort_key(sort: str) -> tuple[SortKey, bool]:
    descending = sort.startswith("-")
    name = sort.lstrip("-")
    if name == "due_date":
        return SortKey(
            lambda: _due_columns(descending), _due_of(descending), ("int", "dt", "int")
        ), descending
    return _KEYS[name], descending


def order_by(sort: str) -> list[ColumnElement[Any]]:
    key, descending = sort_key(sort)
    return [c.desc() if descending else c.asc() for c in key.columns()]


def after_cursor(sort: str, cursor: str) -> ColumnElement[bool]:
    key, descending = sort_key(sort)
    values = _decode(cursor, sort, key.kinds)
    row = tuple_(*key.columns())
    bound = tuple_(*[literal(v, c.type) for v, c in zip(values, key.columns(), strict=True)])
    return row < bound if descending else row > bound


def cursor_after(sort: str, task: Task) -> str:
    key, _ = sort_key(sort)
    values = [v.isoformat() if isinstance(v, datetime) else v for v in key.of(task)]
    return encode_cursor({"s": sort, "k": values})


def _decode(cursor: str, sort: str, kinds: tuple[str, ...]) -> list[Any]:
    payload = decode_cursor(cursor)
    values = payload.get("k")
    if payload.get("s") != sort or not isinstance(values, list) or len(values) != len(kinds):
        raise malformed()  # another sort order's cursor, or not ours
    try:
        return [_value(v, kind) for v, kind in zip(values, kinds, strict=True)]
    except (ValueError, TypeError) as exc:
        raise malformed() from exc


def _value(value: Any, kind: str) -> Any:
    # A cursor comes back from the client: hold it to what the database can compare.
    if kind == "dt":
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive datetime in cursor")
        try:
            return parsed.astimezone(UTC)
        except OverflowError as exc:
            raise ValueError("datetime out of range in cursor") from exc
    expected = int if kind == "int" else str
    if not isinstance(value, expected) or isinstance(value, bool):
        raise ValueError("wrong type in cursor")
    if isinstance(value, int) and not 0 <= value <= MAX_ID:
        raise ValueError("integer out of range in cursor")
    if isinstance(value, str) and not storable(value):
        raise ValueError("unstorable text in cursor")
    return value
