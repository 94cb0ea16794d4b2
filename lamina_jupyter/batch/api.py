"""DataFrame fan-out: one app run per row, results as new columns, `df.lamina` accessor.

    result = lamina_jupyter.run_dataframe(df, "Text to Image", concurrency=8)
    result = df.lamina.run("Text to Image")            # the same
    result = await lamina_jupyter.arun_dataframe(df, app)
    result = result.lamina.retry_failed()               # only failed rows, new attempts
    result.lamina.gallery(by="prompt")                  # thumbnails; .download("out/{index}_{label}.{ext}")

Sync entry point in a running loop (a Jupyter kernel): run_dataframe runs the async engine on a
worker thread with its own event loop, always (kernel or script), while the calling thread waits,
renders the progress display and turns Ctrl-C / the stop button into a cancellation of the batch.
Chosen over nest_asyncio because nest_asyncio patches the kernel's own loop process-wide
(re-entrancy hides ordering bugs, breaks anyio/TaskGroup cancellation, and the project is
archived), cannot deliver a KeyboardInterrupt to a nested run_until_complete cleanly, and would
make widget updates happen from inside a re-entered loop. Measured (bench/fanout.py [4]): starting and
stopping the worker thread and its loop costs ~0.14 ms, nest_asyncio's re-entry ~0.015 ms, both
noise next to one call (~25 ms even when every row comes from the ledger), so safety decides.
Only the calling (kernel) thread touches widgets.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pandas as pd

from .gallery import Gallery, download, gallery
from .job import CLIENTS, Job
from .progress import make_view

RETRY_STATUSES = ("failed", "error", "cancelled")


class _LoopThread:
    """A private event loop on a worker thread; `call()` blocks the caller until a coroutine ends."""

    def __enter__(self) -> _LoopThread:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="lamina-fanout", daemon=True)
        self.thread.start()
        return self

    def call(
        self,
        coro: Coroutine[Any, Any, Any],
        tick: Callable[[], None] | None = None,
        interruptible: bool = False,
    ) -> Any:
        box: dict[str, asyncio.Task[Any]] = {}

        async def main() -> Any:
            box["task"] = asyncio.current_task()  # type: ignore[assignment]
            return await coro

        future = asyncio.run_coroutine_threadsafe(main(), self.loop)
        interrupted = False
        while True:
            try:
                return future.result(timeout=0.2)
            except concurrent.futures.TimeoutError:
                if tick is not None:
                    tick()
            except KeyboardInterrupt:
                if not interruptible or interrupted or "task" not in box:
                    future.cancel()
                    raise
                interrupted = True  # the engine answers the cancellation with the partial frame
                self.loop.call_soon_threadsafe(box["task"].cancel)

    def __exit__(self, *exc: object) -> None:
        async def drain() -> None:
            await self.loop.shutdown_asyncgens()
            await self.loop.shutdown_default_executor()

        try:
            asyncio.run_coroutine_threadsafe(drain(), self.loop).result(timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join()
            self.loop.close()


def _summarise(job: Job) -> None:
    job.tracker.note(job.report.summary())
    for note in job.report.notes:
        job.tracker.note(note)


def _run_sync(job: Job, base: Any = None) -> Any:
    with _LoopThread() as lt:
        try:
            lt.call(job.prepare(in_caller_loop=False))
            job.emit_warnings()
            if job.dry_run:
                return lt.call(job.dry_run_report())
            view = make_view(job.tracker, job.progress)
            try:
                lt.call(job.execute(view.wants_thumbnails), tick=view.update, interruptible=True)
                _summarise(job)
            finally:
                view.update(final=True)
        finally:
            lt.call(job.close())
    return job.frame(base)


async def _ticker(view: Any) -> None:
    while True:
        await asyncio.sleep(0.25)
        view.update()


async def _run_async(job: Job, base: Any = None) -> Any:
    try:
        await job.prepare(in_caller_loop=True)
        job.emit_warnings()
        if job.dry_run:
            return await job.dry_run_report()
        view = make_view(job.tracker, job.progress)
        ticker = asyncio.ensure_future(_ticker(view))
        try:
            await job.execute(view.wants_thumbnails)
            _summarise(job)
        finally:
            ticker.cancel()
            view.update(final=True)
    finally:
        await job.close()
    return job.frame(base)


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
    DryRunReport (payloads, problems, credits and wall-time estimate) and starts nothing.
    Works in a notebook cell (a loop is running) and in scripts; see the module docstring.
    """
    return _run_sync(
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
) -> Any:
    """The awaitable run_dataframe (same arguments and result), on the caller's event loop. Task
    cancellation stops dispatch and returns the partial frame instead of raising."""
    return await _run_async(
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
        )
    )


@pd.api.extensions.register_dataframe_accessor("lamina")
class LaminaAccessor:
    """`df.lamina.run(app, ...)`, and on results: retry_failed, gallery, download, report."""

    def __init__(self, df: pd.DataFrame) -> None:
        self._df = df

    def run(self, app: Any, **kwargs: Any) -> Any:
        return run_dataframe(self._df, app, **kwargs)

    async def arun(self, app: Any, **kwargs: Any) -> Any:
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
        self, client: Any, include_unknown: bool, concurrency: int | None, progress: bool, journal: Any
    ) -> Job | None:
        info = self._info()
        statuses = RETRY_STATUSES + (("unknown",) if include_unknown else ())
        positions = {i for i, s in enumerate(self._df["lamina_status"]) if s in statuses}
        if not positions:
            return None
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
        )

    def retry_failed(
        self,
        *,
        client: Any = None,
        include_unknown: bool = False,
        concurrency: int | None = None,
        progress: bool = True,
        journal: Any = None,
    ) -> Any:
        """Rerun only the failed (and errored / cancelled; unknown too if asked) rows as new attempts;
        returns a new frame with those rows replaced."""
        job = self._retry_job(client, include_unknown, concurrency, progress, journal)
        return self._df.copy() if job is None else _run_sync(job, base=self._df)

    async def aretry_failed(
        self,
        *,
        client: Any = None,
        include_unknown: bool = False,
        concurrency: int | None = None,
        progress: bool = True,
        journal: Any = None,
    ) -> Any:
        job = self._retry_job(client, include_unknown, concurrency, progress, journal)
        return self._df.copy() if job is None else await _run_async(job, base=self._df)

    def gallery(
        self,
        columns: list[str] | str | None = None,
        by: list[str] | str | None = None,
        max_images: int = 48,
        thumb: int = 256,
    ) -> Gallery:
        """An HTML grid of embedded thumbnails labelled by `by` columns, each linked to its media."""
        return gallery(self._df, columns=columns, by=by, max_images=max_images, thumb=thumb)

    def download(
        self,
        pattern: str = "lamina-output/{index}_{label}.{ext}",
        columns: list[str] | str | None = None,
        overwrite: bool = True,
    ) -> Any:
        """Save outputs to files named by `pattern`; returns a copy with `<column>_local_path` columns."""
        return download(self._df, pattern, columns=columns, overwrite=overwrite)
