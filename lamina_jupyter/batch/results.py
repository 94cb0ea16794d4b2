"""The result frame of a batch: the inputs plus one column per output and the lamina_* columns."""

from __future__ import annotations

import math
import os
import uuid
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.models import FromServer, from_server
from .lineage import lineage_attrs

if TYPE_CHECKING:
    from .job import Job

STATUS_COLUMNS = ("lamina_status", "lamina_error", "lamina_run_id", "lamina_seconds")
CLIENTS: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()  # the client, for retry_failed

def output_columns(job: Job) -> list[dict[str, Any]]:
    """One result column per output label, renamed where a label clashes with an input column."""
    descriptors = [o for o in job.app.outputs if isinstance(o.get("label"), str)]
    if not descriptors:
        first = next((o.outputs for o in job.outcomes.values() if o.outputs), ())
        descriptors = [{"label": o.label or f"Output {i}", "type": o.type} for i, o in enumerate(first)]
    taken = {str(c) for c in job.df.columns} | set(STATUS_COLUMNS)
    cols = []
    for d in descriptors:
        name = d["label"] if d["label"] not in taken else f"{d['label']} (output)"
        n = 2
        while name in taken:
            name, n = f"{d['label']} {n}", n + 1
        taken.add(name)
        cols.append({"label": d["label"], "column": name, "type": d.get("type") or "image"})
    return cols

def with_columns(df: Any, added: dict[str, Any]) -> Any:
    """A copy of `df` with the `added` columns set one by one, as `result[name] = values` would."""
    result = _in_one_call(df, added)
    if result is None:
        result = df.copy()
        for name, values in added.items():
            result[name] = values
    return result

def _in_one_call(df: Any, added: dict[str, Any]) -> Any:
    """The same frame from one constructor call (each setitem costs ~40 us, most of a 1-row re-run's
    result frame), or None where that could differ: a subclass, MultiIndex or repeated column labels,
    labels whose object or string dtype setitem keeps but the constructor infers anew."""
    import pandas as pd

    labels = df.columns
    if type(df) is not pd.DataFrame or type(labels) not in (pd.Index, pd.RangeIndex) or not labels.is_unique:
        return None
    copied = df.copy()  # the result shares no memory with the caller's frame
    # Series whose index is the frame's own are taken as they are: no alignment, no dtype inference
    result = pd.DataFrame({**dict(copied.items()), **added}, index=copied.index, copy=False)
    if labels.dtype.kind == "O" and result.columns.dtype != labels.dtype:
        return None
    result.columns.name = labels.name
    return result.__finalize__(df, method="copy")  # attrs and flags, as df.copy() keeps them

def result_frame(job: Job, base: Any = None) -> Any:
    """The input frame plus one column per output and the lamina_* columns (index and order kept)."""
    outs = output_columns(job)
    n = len(job.df)
    values: dict[str, list[Any]] = {o["column"]: [None] * n for o in outs}
    status: list[Any] = ["pending"] * n
    error: list[Any] = [None] * n
    run_id: list[Any] = [None] * n
    seconds = np.full(n, math.nan)  # straight from the store's floats: no float object per row
    held = np.asarray(job.outcomes.seconds_column(), dtype=np.float64)
    seconds[: len(held)] = held
    seconds[seconds == 0] = math.nan  # a row without (or with 0 s of) run time shows none
    for pos, o in job.outcomes.items():
        status[pos], run_id[pos] = o.status, o.run_id
        produced = o.outputs or ()
        for i, col in enumerate(outs):
            same_label = [p for p in produced if p.label == col["label"]]
            match = produced[i] if len(produced) == len(outs) else (same_label[0] if same_label else None)
            if match is not None and match.status == "completed":
                # server text: never read as a path if the frame feeds another app (a run's value is
                # marked already; a copy per row would cost as much again)
                value = match.value
                values[col["column"]][pos] = value if isinstance(value, FromServer) else from_server(value)
        output_errors = "; ".join(f"{p.label}: {p.error}" for p in produced if p.error)
        error[pos] = o.error or (output_errors or None)
    columns: dict[str, Any] = dict(values)
    columns.update(zip(STATUS_COLUMNS, (status, error, run_id, seconds), strict=True))
    if base is None:
        result = with_columns(job.df, columns)
    else:  # retry: replace only the retried rows
        result = base.copy()
        for pos in sorted(job.only or ()):
            for name, column in columns.items():
                result.iloc[pos, result.columns.get_loc(name)] = column[pos]
    token = uuid.uuid4().hex
    if job.user_client is not None:
        CLIENTS[token] = job.user_client
    result.attrs["lamina"] = {
        "app_id": job.app.id,
        "app_name": job.app.name,
        "columns": dict(job.cmap.columns),
        "constants": dict(job.cmap.constants),
        "input_columns": [c for c in job.df.columns],
        "outputs": outs,
        "journal": os.fspath(job.journal_path) if job.journal_path else None,
        "concurrency": job.concurrency,
        "report": job.report.as_dict(),
        "summary": job.report.summary(),
        "client_token": token,
        **lineage_attrs(job.app, job.outcomes, None if base is None else base.attrs.get("lamina")),
    }
    return result
