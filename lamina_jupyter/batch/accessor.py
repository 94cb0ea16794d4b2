"""`df.lamina`: run a frame, and on a result frame retry_failed, gallery, download and report.

api.py registers it with pandas; the result frame's `attrs["lamina"]` carries what a retry needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd

from ..core.errors import LaminaError
from .drive import run_async, run_sync
from .gallery import Gallery, download, gallery
from .job import Job
from .results import CLIENTS
from .show import Table, show

RETRY_STATUSES = ("failed", "error", "cancelled", "uncertain")


@contextmanager
def one_line_errors() -> Iterator[None]:
    """A LaminaError raised here shows in a notebook as one line (IPython prints what an exception's
    `_render_traceback_` returns instead of the traceback), like the magic's errors: its message
    already says what to do, and a traceback through the library would bury it."""
    try:
        yield
    except LaminaError as exc:
        line = f"{type(exc).__name__}: {exc.message}"
        exc._render_traceback_ = lambda: [line]  # type: ignore[attr-defined]
        raise


class LaminaAccessor:
    """`df.lamina.run(app, ...)`, and on results: retry_failed, gallery, download, report."""

    def __init__(self, df: pd.DataFrame) -> None:
        self._df = df

    def run(self, app: Any, **kwargs: Any) -> Any:
        from .api import run_dataframe

        with one_line_errors():
            return run_dataframe(self._df, app, **kwargs)

    async def arun(self, app: Any, **kwargs: Any) -> Any:
        from .api import arun_dataframe

        with one_line_errors():
            return await arun_dataframe(self._df, app, **kwargs)

    def _info(self) -> dict[str, Any]:
        info = self._df.attrs.get("lamina")
        if not isinstance(info, dict) or "lamina_status" not in self._df.columns:
            raise ValueError(
                "This frame is not a lamina result (no lamina_status column or metadata); "
                "call df.lamina.run(app) first."
            )
        return info

    @property
    def report(self) -> dict[str, Any]:
        """Counts from the run that produced this frame (reused, re-attached, reconciled, submitted...)."""
        return dict(self._info()["report"])

    def _retry_job(
        self,
        client: Any,
        include_unknown: bool,
        concurrency: int | None,
        progress: bool,
        journal: Any,
        adopt: bool = False,
    ) -> Job | None:
        info = self._info()
        statuses = RETRY_STATUSES + (("unknown",) if include_unknown else ())
        positions = {i for i, s in enumerate(self._df["lamina_status"]) if s in statuses}
        if not positions:
            return None
        rows = zip(self._df["lamina_status"], self._df["lamina_run_id"], strict=True)
        chosen = {
            i: run_id
            for i, (s, run_id) in enumerate(rows)
            if adopt and s == "uncertain" and isinstance(run_id, str) and run_id
        }
        inputs = self._df[info["input_columns"]]
        journal = info["journal"] or False if journal is None else journal
        return Job(
            inputs,
            info["app_id"],
            client=client or CLIENTS.get(info["client_token"]),
            columns=info["columns"],
            constants=info["constants"],
            concurrency=concurrency or info["concurrency"],
            journal=journal,
            progress=progress,
            only_positions=positions,
            warn_unmatched=False,
            adopt=chosen,
        )

    def retry_failed(
        self,
        *,
        client: Any = None,
        include_unknown: bool = False,
        concurrency: int | None = None,
        progress: bool = True,
        journal: Any = None,
        adopt: bool = False,
    ) -> Any:
        """Rerun only the failed, errored, cancelled and uncertain (unknown too if asked) rows as new
        attempts; returns a new frame with those rows replaced. An `uncertain` row may already have a
        run (its candidate, in lamina_run_id): by default it is started again, which pays twice if the
        candidate was its run; adopt=True follows the candidate instead (check it first: it may be
        another user's run)."""
        job = self._retry_job(client, include_unknown, concurrency, progress, journal, adopt)
        with one_line_errors():
            return self._df.copy() if job is None else run_sync(job, base=self._df)

    async def aretry_failed(
        self,
        *,
        client: Any = None,
        include_unknown: bool = False,
        concurrency: int | None = None,
        progress: bool = True,
        journal: Any = None,
        adopt: bool = False,
    ) -> Any:
        job = self._retry_job(client, include_unknown, concurrency, progress, journal, adopt)
        with one_line_errors():
            return self._df.copy() if job is None else await run_async(job, base=self._df)

    def gallery(
        self,
        columns: list[str] | str | None = None,
        by: list[str] | str | None = None,
        max_images: int = 48,
        thumb: int = 256,
    ) -> Gallery:
        """An HTML grid of embedded thumbnails labelled by `by` columns, each linked to its media."""
        return gallery(self._df, columns=columns, by=by, max_images=max_images, thumb=thumb)

    def show(self, thumb: int = 96, max_rows: int = 50, text_limit: int = 80) -> Table:
        """The frame as static HTML: media as small embedded thumbnails, long text shortened."""
        return show(self._df, thumb=thumb, max_rows=max_rows, text_limit=text_limit)

    def download(
        self,
        pattern: str = "lamina-output/{index}_{label}.{ext}",
        columns: list[str] | str | None = None,
        overwrite: bool = True,
    ) -> Any:
        """Save outputs to files named by `pattern`; returns a copy with `<column>_local_path` columns."""
        return download(self._df, pattern, columns=columns, overwrite=overwrite)

    def grid(self, rows: Any = None, cols: Any = None, by: Any = None, outputs: Any = None,
             max_cells: int = 100) -> Any:
        """The outputs as a labelled matrix: rows x cols of factor values, one panel per `by` value."""
        from .grid import grid

        return grid(self._df, rows=rows, cols=cols, by=by, outputs=outputs, max_cells=max_cells)

    def refine(self, feedback: str, rows: Any = None, *, client: Any = None) -> Any:
        """Refine the chosen rows (index labels or a mask; default every completed row) in place on the
        server; returns a copy with the new outputs. Every version is kept (see versions())."""
        from .refine import refine_rows

        return refine_rows(self._df, self._info(), feedback, rows, client)

    def versions(self, row: Any) -> Any:
        """Every output set of one row's run, oldest first (kept in the ledger across restarts)."""
        from .refine import versions

        return versions(self._df, self._info(), row)
