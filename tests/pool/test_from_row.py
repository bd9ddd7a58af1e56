"""``pool.store.from_row``: a dataclass from a row, the same on both stores' values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from pool.store import from_row


@dataclass(frozen=True)
class _Thing:
    thing_id: int
    name: str
    live: bool
    parent_id: int | None = None


def test_flags_become_bools_and_integers_ints() -> None:
    # SQLite keeps flags as 0/1; a count may come back as another integer type.
    class Count(int):
        pass

    thing = from_row(
        _Thing, {"id": Count(7), "name": "a", "live": 1, "parent_id": 3}, thing_id="id"
    )
    assert thing == _Thing(7, "a", True, 3)
    assert type(thing.thing_id) is int and thing.live is True


def test_a_missing_value_stays_none_and_other_columns_are_ignored() -> None:
    row: dict[str, Any] = {"thing_id": 1, "name": "b", "live": 0, "parent_id": None, "x": 9}
    assert from_row(_Thing, row) == _Thing(1, "b", False, None)


def test_a_row_without_a_field_s_column_is_an_error() -> None:
    with pytest.raises(KeyError):
        from_row(_Thing, {"thing_id": 1, "name": "c", "live": 1})
