"""Parameter sweeps: run every combination of some inputs through the fan-out and show the grid.

    result = lamina_jupyter.sweep("Text to Image", {"Style": ["Neon", "Watercolor"],
                                                   "Prompt": ["a fox", "a ship"]}, repeat=2)
    result                                   # shows the grid (styles across, prompts down)
    result.lamina.grid(rows="Style", cols="Prompt")

A sweep is a frame with one column per factor handed to run_dataframe, so the ledger (a rerun or
a resumed interrupt pays nothing twice), the rate governor, retries, progress and dry runs all
apply unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from itertools import product
from typing import Any

import pandas as pd

from .api import run_dataframe
from .drive import run_async
from .grid import Grid, grid
from .job import Job
from .progress import render_html

REPEAT_COLUMN = "lamina_repeat"  # the lamina_ prefix: never sent, never warned about


class SweepResult(pd.DataFrame):
    """A sweep's result frame; in a notebook it shows itself as its grid. Anything derived from it
    (a filter, a copy) is a plain DataFrame again, shown as a table."""

    _metadata = ["_lamina_grid"]
    _lamina_grid: Grid | None = None

    @property
    def _constructor(self) -> type[pd.DataFrame]:
        return pd.DataFrame

    @classmethod
    def of(cls, frame: pd.DataFrame, factors: list[str] | None = None) -> SweepResult:
        """`frame` as a sweep result (attrs kept; `factors` recorded for the grid's default layout)."""
        swept = cls(frame)
        info = dict(frame.attrs["lamina"], **({"factors": factors} if factors is not None else {}))
        swept.attrs = {**frame.attrs, "lamina": info}
        return swept

    def _repr_html_(self) -> str:
        if self._lamina_grid is None:
            try:
                self._lamina_grid = self.lamina.grid()
            except ValueError:  # e.g. columns dropped: the table is better than no view at all
                return pd.DataFrame._repr_html_(self) or ""
        hint = ("<div style='font:12px sans-serif;color:#57606a'>A DataFrame of "
                f"{len(self)} run(s): <code>result.head()</code> shows the table, "
                "<code>result.lamina.grid(rows=..., cols=...)</code> another layout.</div>")
        return self._lamina_grid.html + hint


def sweep_frame(factors: Mapping[str, Iterable[Any]], repeat: int = 1) -> pd.DataFrame:
    """One row per combination of the factor values (each `repeat` times), in the given order."""
    if not isinstance(factors, Mapping) or not factors:
        raise TypeError("sweep() takes a dict of parameter -> list of values, e.g. "
                        '{"Style": ["Neon", "Pixel Art"]}')
    lists = {n: [] if isinstance(v, (str, bytes)) else list(v) for n, v in factors.items()}
    for name, values in lists.items():
        if not values:
            raise TypeError(f"sweep factor {name!r} needs a non-empty list of values, not "
                            f"{factors[name]!r}; a single value belongs in constants=")
    if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
        raise ValueError(f"repeat must be a positive integer, not {repeat!r}")
    names = list(lists)
    rows = [dict(zip(names, combo, strict=True)) | ({REPEAT_COLUMN: n + 1} if repeat > 1 else {})
            for combo in product(*lists.values()) for n in range(repeat)]
    return pd.DataFrame(rows, columns=names + ([REPEAT_COLUMN] if repeat > 1 else []))


def sweep(app: Any, factors: Mapping[str, Iterable[Any]], *, constants: dict[str, Any] | None = None,
          repeat: int = 1, client: Any = None, **options: Any) -> Any:
    """Run `app` on every combination of `factors` (parameter -> values), each `repeat` times, with
    `constants` for the other parameters; `options` are run_dataframe's (concurrency, journal,
    progress, dry_run, ...). Returns the result frame, one column per factor, shown as its grid
    (or the DryRunReport with dry_run=True)."""
    result = run_dataframe(sweep_frame(factors, repeat), app, client=client, constants=constants, **options)
    if not isinstance(result, pd.DataFrame):
        return result
    return SweepResult.of(result, list(factors))


async def sweep_for_form(app: Any, factors: Mapping[str, list[Any]], *, constants: dict[str, Any],
                         repeat: int, client: Any,
                         on_progress: Callable[[str], None]) -> tuple[SweepResult, Grid]:
    """A form's sweep (notebook/form_sweep.py calls it through notebook/hooks.py) on the caller's loop,
    the forms' worker loop: progress goes to `on_progress` as HTML (only the kernel thread touches
    widgets); no ledger, because the button says how many runs it makes and pressing it again makes
    them again; the grid (first factor down, second across, the rest as panels) is drawn here, off the
    kernel thread, because drawing it fetches the thumbnails."""
    job = Job(sweep_frame(factors, repeat), app, client=client, constants=constants, journal=False,
              progress=False)

    async def report() -> None:
        while True:
            on_progress(render_html(job.tracker.snapshot()))
            await asyncio.sleep(0.25)

    ticker = asyncio.ensure_future(report())
    try:
        frame = await run_async(job)
    finally:
        ticker.cancel()
    on_progress(render_html(job.tracker.snapshot()))
    result = SweepResult.of(frame, list(factors))
    names = list(factors)
    result._lamina_grid = await asyncio.to_thread(grid, result, rows=names[:1], cols=names[1:2], by=names[2:])
    return result, result._lamina_grid
