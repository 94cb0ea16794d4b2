"""DataFrame columns → app parameters, and every row checked before any run starts.

Matching order per column: an explicit `columns={"col": "Param"}`, then the parameter's exact key,
name or id, then the same ignoring case, spaces, hyphens and underscores ("aspect ratio" →
"Aspect Ratio"). Columns that match nothing are reported (warning + dry-run report), never silently
dropped; they stay in the result frame. Empty cells (None/NaN) mean "use the app's default".
Validation reuses inputs.prepare_inputs row by row and reports every problem at once, by row and
column, so a 1,000-row batch never dies at row 873 after paying for 872. Cells of columns a lamina
result frame filled with outputs (`server_columns`) are server data (`models.FromServer`): a local path
there is refused, never uploaded; only columns the user built are read from disk.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import warnings
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import LaminaWarning, ValidationError
from ..core.inputs import Upload, prepare_inputs
from ..core.models import App, Parameter, from_server
from .ledger import canonical

RESERVED_PREFIX = "lamina_"
MAX_LISTED = 40
_EXAMPLE = {"columns": "{'column': 'Parameter'}", "constants": "{'Parameter': value}"}


def loose(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text).casefold()


def _spellings(p: Parameter) -> list[str]:
    return [s for s in (p.key, p.name, p.id) if s]


def find_parameter(app: App, given: str) -> Parameter | None:
    """Exact key/name/id first, then case-, space-, hyphen- and underscore-insensitive (if unique)."""
    for p in app.parameters:
        if given in _spellings(p):
            return p
    hits = [p for p in app.parameters if loose(given) in {loose(s) for s in _spellings(p)}]
    return hits[0] if len(hits) == 1 else None


def _unknown(app: App, given: str, what: str) -> ValueError:
    names = ", ".join(repr(p.name) for p in app.parameters)
    return ValueError(f"{what} {given!r} matches no parameter of {app.name!r}. Parameters: {names}.")


@dataclass
class ColumnMap:
    """How a frame feeds an app: column → parameter name, constants by parameter name."""

    columns: dict[str, str]
    constants: dict[str, Any]
    unmatched: list[str]
    missing: list[str] = field(default_factory=list)  # required parameters nobody supplies

    def describe(self) -> list[str]:
        lines = [f"column {c!r} → {p!r}" for c, p in self.columns.items()]
        lines += [f"constant {p!r} = {v!r}" for p, v in self.constants.items()]
        lines += [f"column {c!r} matches no parameter (kept in the result, not sent)" for c in self.unmatched]
        return lines


def map_columns(
    app: App,
    frame_columns: Iterable[Any],
    columns: Mapping[str, str] | None = None,
    constants: Mapping[str, Any] | None = None,
    warn: bool = True,
) -> ColumnMap:
    """Resolve which column feeds which parameter; ValueError on contradictions (says how to fix)."""
    available = [c for c in frame_columns]
    for what, arg in (("columns", columns), ("constants", constants)):
        if arg is not None and not isinstance(arg, Mapping):
            raise TypeError(f"{what}= must be a dict ({_EXAMPLE[what]}), not {type(arg).__name__}")
        bad = [(k, v) for k, v in (arg or {}).items() if not isinstance(v if what == "columns" else k, str)]
        if bad:
            raise TypeError(f"{what}= needs parameter names as strings ({_EXAMPLE[what]}); got "
                            f"{bad[0][0]!r}: {bad[0][1]!r}"[:300])
    repeated = sorted(repr(c) for c, n in Counter(available).items() if n > 1)
    if repeated:
        raise ValueError(f"The frame has duplicate column labels {', '.join(repeated)}; rename them "
                         "(e.g. df.columns = [...]) so that each column means one thing.")
    mapped: dict[str, str] = {}
    owner: dict[str, str] = {}  # parameter name → column

    def take(col: str, p: Parameter, how: str) -> None:
        if p.name in owner:
            raise ValueError(
                f"Columns {owner[p.name]!r} and {col!r} both feed parameter {p.name!r} ({how}). "
                f"Pick one with columns={{{owner[p.name]!r}: {p.name!r}}} or rename a column."
            )
        owner[p.name] = col
        mapped[col] = p.name

    for col, target in (columns or {}).items():
        if col not in available:
            raise ValueError(
                f"columns= names {col!r}, which is not a column of the frame. Columns: "
                f"{', '.join(map(repr, available))}."
            )
        p = find_parameter(app, target)
        if p is None:
            raise _unknown(app, target, f"columns={{{col!r}: ...}} names")
        take(col, p, "explicit")
    candidates = [
        c for c in available if c not in mapped and isinstance(c, str) and not c.startswith(RESERVED_PREFIX)
    ]
    for exact in (True, False):  # every exact match wins before any loose one
        for col in list(candidates):
            p = (
                next((q for q in app.parameters if col in _spellings(q)), None)
                if exact
                else find_parameter(app, col)
            )
            if p is not None and p.name not in owner:
                take(col, p, "matched by name")
                candidates.remove(col)
    consts: dict[str, Any] = {}
    for given, value in (constants or {}).items():
        p = find_parameter(app, given)
        if p is None:
            raise _unknown(app, given, "constants= names")
        if p.name in owner:
            raise ValueError(
                f"Parameter {p.name!r} comes both from column {owner[p.name]!r} and from "
                f"constants=; drop one (or map the column elsewhere with columns=)."
            )
        consts[p.name] = value
    unmatched = [
        c for c in available if c not in mapped and not (isinstance(c, str) and c.startswith(RESERVED_PREFIX))
    ]
    supplied = set(owner) | set(consts)
    missing = [p.name for p in app.parameters if p.name not in supplied and p.required and p.default is None]
    if unmatched and warn:
        names = ", ".join(p.name for p in app.parameters)
        warnings.warn(
            f"Column(s) {', '.join(map(repr, unmatched))} match no parameter of {app.name!r} and are "
            f"not sent (they stay in the result). Parameters: {names}. Map one with "
            "columns={'col': 'Param'} if that was meant.",
            LaminaWarning,
            stacklevel=3,
        )
    return ColumnMap(mapped, consts, [str(c) for c in unmatched], missing)


def _cell(value: Any) -> Any:
    """None for empty cells (NaN, NA, NaT); numpy scalars become Python scalars."""
    if value is None:
        return None
    try:
        if value != value:  # NaN / NaT
            return None
    except (TypeError, ValueError):
        pass
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy":
        return item()
    return value


def records(df: Any, columns: Collection[Any]) -> Iterator[tuple[Any, dict[Any, Any]]]:
    """(index label, {column: cell}) per row, for the given columns only, one row at a time:
    `df.to_dict("records")` built a dict of every column for every row before the first was checked."""
    cells = zip(*(df[c] for c in columns), strict=True) if columns else itertools.repeat(())
    for label, values in zip(df.index, cells, strict=False):  # repeat(()) never ends
        yield label, dict(zip(columns, values, strict=True))


def server_columns(df: Any) -> set[Any]:
    """Columns a lamina result frame filled with run outputs (its attrs["lamina"]["outputs"])."""
    info = getattr(df, "attrs", {}).get("lamina")
    outputs = info.get("outputs") if isinstance(info, dict) else None
    return {o["column"] for o in outputs or [] if isinstance(o, dict) and "column" in o}


def _stable(value: Any) -> Any:
    """Uploads (local files) are fingerprinted by content, not by repr."""
    if isinstance(value, Upload):
        return {"upload": hashlib.sha256(value.data).hexdigest(), "name": value.filename}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _same(payload: dict[str, Any], inputs: dict[str, Any]) -> bool:
    """True when the payload is the inputs value for value and type for type (text and options), so a
    row can keep one dict instead of two; 1 vs 1.0 or True differ in the fingerprint, so they never match."""
    return payload.keys() == inputs.keys() and all(
        type(v) is type(inputs[k]) and type(v) in (str, int, float, bool) and v == inputs[k]
        for k, v in payload.items())


@dataclass(slots=True)
class PlannedRow:
    """One validated row. A batch holds one per row for its whole run, so a row keeps its values as a
    tuple beside the parameter names that rows of the same shape share, and a wire payload of its own
    only where that differs from the inputs (uploads, converted values): ~200 B less than two dicts."""

    position: int
    label: Any
    names: tuple[str, ...]
    values: tuple[Any, ...]
    wire: dict[str, Any] | None = None

    @property
    def inputs(self) -> dict[str, Any]:
        """What client.start receives (parameter name → value)."""
        return dict(zip(self.names, self.values, strict=True))

    @property
    def payload(self) -> dict[str, Any]:
        """The normalised wire payload (fingerprinted)."""
        return self.inputs if self.wire is None else self.wire


def plan_rows(
    app: App, rows: Iterable[tuple[Any, Mapping[Any, Any]]], cmap: ColumnMap, family: str = "v1",
    server_data: Collection[Any] = (),
) -> tuple[list[PlannedRow], list[dict[str, Any]]]:
    """Validate every row; returns (planned rows, problems). Problems carry row, index and column.
    Cells of the `server_data` columns (see `server_columns`) are marked as server data."""
    planned: list[PlannedRow] = []
    problems: list[dict[str, Any]] = []
    column_of = {p: c for c, p in cmap.columns.items()}
    shapes: dict[tuple[str, ...], tuple[str, ...]] = {}  # one names tuple per shape, not per row
    for position, (label, record) in enumerate(rows):
        cells = {p: _cell(record[c]) for c, p in cmap.columns.items()}
        cells = {p: from_server(v) if column_of[p] in server_data else v for p, v in cells.items()}
        inputs = {p: v for p, v in cells.items() if v is not None}  # empty cell: the default (or "missing")
        inputs.update(cmap.constants)
        try:
            prepared = prepare_inputs(app, inputs, family)
        except ValidationError as err:
            for d in err.details or []:
                col = column_of.get(d.get("field"), "constants" if d.get("field") in cmap.constants else None)
                problems.append({**d, "row": position, "index": label, "column": col})
            continue
        payload = {k: _stable(v) for k, v in prepared.payload.items()}
        names = tuple(inputs)
        planned.append(PlannedRow(position, label, shapes.setdefault(names, names), tuple(inputs.values()),
                                  None if _same(payload, inputs) else payload))
    return planned, problems


def problems_error(problems: list[dict[str, Any]], app: App, rows: int) -> ValidationError:
    """One error listing every problem by row and column."""
    bad_rows = len({p["row"] for p in problems})
    lines = []
    for p in problems[:MAX_LISTED]:
        where = f"row {p['row']} (index {p['index']!r})" + (
            f", column {p['column']!r}" if p.get("column") else ""
        )
        lines.append(f"\n  - {where}: {p['message']}")
    more = (
        f"\n  … and {len(problems) - MAX_LISTED} more (see err.details)" if len(problems) > MAX_LISTED else ""
    )
    return ValidationError(
        f"{len(problems)} problem(s) in {bad_rows} of {rows} row(s) for {app.name!r}; nothing was sent:"
        f"{''.join(lines)}{more}\nFix those cells (or map columns with columns=/constants=) and run again; "
        "dry_run=True shows the full report.",
        code="VALIDATION_ERROR",
        details=problems,
        retryable=False,
    )


def payload_text(payload: Mapping[str, Any]) -> str:
    return canonical(payload)
