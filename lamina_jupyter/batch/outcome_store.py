"""A batch's outcomes column by column (issue 17): a slot per field per row, not objects per row.

An Outcome per row, with a tuple and a `Produced` per output, cost ~260 B a row before its strings;
here a row is one slot in each column (8 B) and its own strings. Outputs are split into a shape
(labels, statuses, types: one tuple shared by the rows alike) and a column of values per output.
`store[pos]` is a live view: `store[pos].status = "running"` writes through, as on the Outcome it
replaces, and `store[pos] = Outcome(...)` stores a row.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator, Mapping
from typing import Any

from .ledger import Produced
from .outcome import Outcome

MAX_SHAPES = 1024  # a server sending new labels on every row gets unshared shapes, nothing worse
Shape = tuple[tuple[Any, Any, Any, Any], ...]  # (label, status, type, mime_type) per output


class _Field:
    """A row field kept in the store's list of the same name."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.column = "_" + name

    def __get__(self, row: Row, owner: type | None = None) -> Any:
        return getattr(row.store, self.column)[row.pos]

    def __set__(self, row: Row, value: Any) -> None:
        getattr(row.store, self.column)[row.pos] = value


class Row:
    """One stored row with the fields of an Outcome, read and written in place."""

    __slots__ = ("pos", "store")
    status = _Field()
    run_id = _Field()
    error = _Field()
    created_at = _Field()
    completed_at = _Field()

    def __init__(self, store: Outcomes, pos: int) -> None:
        self.store, self.pos = store, pos

    @property
    def seconds(self) -> float | None:
        value = self.store._seconds[self.pos]
        return None if math.isnan(value) else value

    @seconds.setter
    def seconds(self, value: float | None) -> None:
        self.store._seconds[self.pos] = math.nan if value is None else value

    @property
    def outputs(self) -> tuple[Produced, ...] | None:
        return self.store._outputs(self.pos)

    @outputs.setter
    def outputs(self, value: tuple[Produced, ...] | None) -> None:
        self.store._set_outputs(self.pos, value)

    def __repr__(self) -> str:
        return f"Row({self.pos}, {self.status!r}, {self.run_id!r}, {self.outputs!r}, {self.error!r})"


class Outcomes(Mapping[int, Row]):
    """position -> Row for the rows that have an outcome, in position order; sized up front, grows
    when a position is past the end."""

    def __init__(self, size: int = 0) -> None:
        self._status: list[str | None] = [None] * size  # None: the row has no outcome (yet)
        self._run_id: list[str | None] = [None] * size
        self._error: list[str | None] = [None] * size
        self._created_at: list[str | None] = [None] * size
        self._completed_at: list[str | None] = [None] * size
        self._seconds = array("d", [math.nan]) * size
        self._shape: list[Shape | None] = [None] * size  # None: no outputs known
        self._values: list[list[Any]] = []  # one column per output index
        self._output_errors: dict[int, tuple[Any, ...]] = {}  # only rows with an output error
        self._shapes: dict[Shape, Shape] = {}
        self._count = 0

    # -- the mapping ------------------------------------------------------------------------------
    def __getitem__(self, pos: int) -> Row:
        if pos not in self:
            raise KeyError(pos)
        return Row(self, pos)

    def __contains__(self, pos: object) -> bool:
        return isinstance(pos, int) and 0 <= pos < len(self._status) and self._status[pos] is not None

    def __iter__(self) -> Iterator[int]:
        return (pos for pos, status in enumerate(self._status) if status is not None)

    def __len__(self) -> int:
        return self._count

    def __setitem__(self, pos: int, outcome: Outcome | Row) -> None:
        if pos >= len(self._status):
            self._grow(pos + 1 - len(self._status))
        if self._status[pos] is None:
            self._count += 1
        self._status[pos] = outcome.status
        self._run_id[pos], self._error[pos] = outcome.run_id, outcome.error
        self._created_at[pos], self._completed_at[pos] = outcome.created_at, outcome.completed_at
        self._seconds[pos] = math.nan if outcome.seconds is None else outcome.seconds
        self._set_outputs(pos, outcome.outputs)

    def setdefault(self, pos: int, default: Outcome) -> Row:
        if pos not in self:
            self[pos] = default
        return Row(self, pos)

    def seconds_column(self) -> array[float]:
        """Every position's run seconds, NaN where there are none (the result frame reads it whole)."""
        return self._seconds

    # -- columns ----------------------------------------------------------------------------------
    def _grow(self, extra: int) -> None:
        columns: list[list[Any]] = [self._status, self._run_id, self._error, self._created_at,
                                    self._completed_at, self._shape, *self._values]
        for column in columns:
            column.extend([None] * extra)
        self._seconds.extend(array("d", [math.nan]) * extra)

    def _set_outputs(self, pos: int, outputs: tuple[Produced, ...] | None) -> None:
        shape: Shape | None = None
        if outputs is not None:
            shape = tuple((p.label, p.status, p.type, p.mime_type) for p in outputs)
            while len(self._values) < len(outputs):
                self._values.append([None] * len(self._status))
        self._shape[pos] = self._shared(shape)
        for k, column in enumerate(self._values):
            column[pos] = outputs[k].value if outputs is not None and k < len(outputs) else None
        errors = tuple(p.error for p in outputs or ())
        if any(e is not None for e in errors):
            self._output_errors[pos] = errors
        else:
            self._output_errors.pop(pos, None)

    def _shared(self, shape: Shape | None) -> Shape | None:
        """One tuple for every row of the same shape (the first one seen)."""
        if shape is None:
            return None
        try:
            found = self._shapes.get(shape)
        except TypeError:  # e.g. a ledger entry with a list for a label: kept, not shared
            return shape
        if found is None and len(self._shapes) < MAX_SHAPES:
            found = self._shapes[shape] = shape
        return found or shape

    def _outputs(self, pos: int) -> tuple[Produced, ...] | None:
        shape = self._shape[pos]
        if shape is None:
            return None
        errors = self._output_errors.get(pos) or (None,) * len(shape)
        return tuple(Produced(label, self._values[k][pos], status, errors[k], kind, mime)
                     for k, (label, status, kind, mime) in enumerate(shape))
