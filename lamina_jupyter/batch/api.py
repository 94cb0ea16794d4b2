"""DataFrame fan-out: one app run per row, results as new columns, `df.lamina` accessor.

    result = lamina_jupyter.run_dataframe(df, "Text to Image", concurrency=8)
    result = df.lamina.run("Text to Image")            # the same
    result = await lamina_jupyter.arun_dataframe(df, app)
    result = result.lamina.retry_failed()               # only failed rows, new attempts
    result.lamina.gallery(by="prompt")                  # thumbnails; .download("out/{index}_{label}.{ext}")

How a call is driven (a worker thread in a kernel, the caller's loop when awaited) is in drive.py;
the `df.lamina` methods are in accessor.py, registered here.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .accessor import LaminaAccessor
from .drive import run_async, run_sync
from .job import Job


def run_dataframe(
    df: pd.DataFrame,
    app: Any,
    *,
    client: Any = None,
    columns: dict[str, str] | None = None,
    constants: dict[str, Any] | None = None,
    concurrency: int = 8,
    journal: Any = True,
    progress: bool = True,
    dry_run: bool = False,
    cancel_in_flight: bool = False,
    max_credits: float | None = None,
) -> Any:
    """Run `app` once per row of `df`; return a NEW frame (index and order kept) with one column per
    output label (URL or text) plus lamina_status, lamina_error, lamina_run_id, lamina_seconds.

    Every row is validated before anything starts (one ValidationError lists all problems by row
    and column). Columns map to parameters by key/name (exact, then ignoring case, spaces and
    underscores); `columns={"col": "Param"}` and `constants={"Param": value}` override. At most
    `concurrency` runs are in flight (capped at the connection pool). The ledger (journal=True →
    .lamina/runs.sqlite in the working directory, a path, or False) makes a rerun reuse finished
    rows, re-attach to started runs and never pay twice. Ctrl-C / the stop button returns the
    partial frame (cancel_in_flight=True also cancels started runs). dry_run=True returns a
    DryRunReport (payloads, problems, credits against the balance, wall-time estimate) and starts
    nothing. max_credits=N never starts a row that would take the estimated spend past N; such rows
    end `skipped` (see budget.py).
    Works in a notebook cell (a loop is running) and in scripts; see the module docstring.
    """
    return run_sync(
        Job(
            df,
            app,
            client=client,
            columns=columns,
            constants=constants,
            concurrency=concurrency,
            journal=journal,
            progress=progress,
            dry_run=dry_run,
            cancel_in_flight=cancel_in_flight,
            max_credits=max_credits,
        )
    )


async def arun_dataframe(
    df: pd.DataFrame,
    app: Any,
    *,
    client: Any = None,
    columns: dict[str, str] | None = None,
    constants: dict[str, Any] | None = None,
    concurrency: int = 8,
    journal: Any = True,
    progress: bool = True,
    dry_run: bool = False,
    cancel_in_flight: bool = False,
    max_credits: float | None = None,
) -> Any:
    """The awaitable run_dataframe (same arguments and result), on the caller's event loop. Task
    cancellation stops dispatch and returns the partial frame instead of raising."""
    return await run_async(
        Job(
            df,
            app,
            client=client,
            columns=columns,
            constants=constants,
            concurrency=concurrency,
            journal=journal,
            progress=progress,
            dry_run=dry_run,
            cancel_in_flight=cancel_in_flight,
            max_credits=max_credits,
        )
    )



pd.api.extensions.register_dataframe_accessor("lamina")(LaminaAccessor)
