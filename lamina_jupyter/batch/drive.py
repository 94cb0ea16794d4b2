"""Drive a Job to its result frame: on a worker thread from sync code, on the caller's loop from async.

run_dataframe runs the async engine on a worker thread with its own event loop, always (kernel or
script), while the calling thread waits, renders the progress display and turns Ctrl-C / the stop
button into a cancellation of the batch. Chosen over nest_asyncio because nest_asyncio patches the
kernel's own loop process-wide (re-entrancy hides ordering bugs, breaks anyio/TaskGroup
cancellation, and the project is archived), cannot deliver a KeyboardInterrupt to a nested
run_until_complete cleanly, and would make widget updates happen from inside a re-entered loop.
Measured (bench/fanout.py [4]): starting and stopping the worker thread and its loop costs ~0.14 ms,
nest_asyncio's re-entry ~0.015 ms, both noise next to a call that sends requests, so safety decides;
one worker loop is kept idle between calls for those that send none (worker_loop). Only the calling
(kernel) thread touches widgets.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from ..notebook import kernel_ui
from .job import Job
from .progress import make_view


class LoopThread:
    """A private event loop on a worker thread; `call()` blocks the caller until a coroutine ends."""

    def __enter__(self) -> LoopThread:
        return self.start()

    def start(self) -> LoopThread:
        self.owner = os.getpid()
        self.clean = False  # the last call ended and left no task on the loop
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
            result = await coro
            self.clean = len(asyncio.all_tasks()) == 1
            return result

        self.clean = False

        future = asyncio.run_coroutine_threadsafe(main(), self.loop)
        interrupted = False
        while True:
            try:
                return future.result(timeout=0.2)
            except concurrent.futures.TimeoutError:
                kernel_ui.pump()  # the kernel thread is ours while we wait: keep forms in other cells live
                if tick is not None:
                    tick()
            except KeyboardInterrupt:
                if not interruptible or interrupted or "task" not in box:
                    future.cancel()
                    raise
                interrupted = True  # the engine answers the cancellation with the partial frame
                self.loop.call_soon_threadsafe(box["task"].cancel)

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Close the loop's async generators and executor, then end the thread."""

        async def drain() -> None:
            await self.loop.shutdown_asyncgens()
            await self.loop.shutdown_default_executor()

        try:
            asyncio.run_coroutine_threadsafe(drain(), self.loop).result(timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join()
            self.loop.close()


_spare: list[LoopThread] = []  # at most one idle worker loop per process
_spare_lock = threading.Lock()


@contextlib.contextmanager
def worker_loop() -> Iterator[LoopThread]:
    """The spare worker loop, or a new one; kept as the spare after a call that ended normally and
    left no task behind, else stopped. Starting and stopping a thread and its loop was ~0.3 ms of a
    1-row call answered by the ledger (issue 17); one idle thread is the price."""
    with _spare_lock:
        lt = _spare.pop() if _spare else None
    if lt is None or lt.owner != os.getpid():  # a forked child has the loop but not its thread
        lt = LoopThread().start()
    ended = False
    try:
        yield lt
        ended = True
    finally:
        with _spare_lock:
            keep = ended and lt.clean and not _spare
            if keep:
                _spare.append(lt)
        if not keep:
            lt.stop()


@atexit.register
def release_spare() -> None:
    """Stop the spare loop (its async generators and executor closed as after any call)."""
    with _spare_lock:
        spare = [lt for lt in _spare if lt.owner == os.getpid()]
        _spare.clear()
    for lt in spare:
        lt.stop()


def _summarise(job: Job) -> None:
    job.tracker.note(job.report.summary())
    for note in job.report.notes:
        job.tracker.note(note)


def run_sync(job: Job, base: Any = None) -> Any:
    with worker_loop() as lt:
        try:
            lt.call(job.prepare(in_caller_loop=False))
            job.emit_warnings()
            if job.dry_run:
                report = lt.call(job.dry_run_report())
                lt.call(job.close())
                return report
            view = make_view(job.tracker, job.progress)
            try:
                lt.call(job.execute(view.wants_thumbnails), tick=view.update, interruptible=True)
                _summarise(job)
            finally:
                view.update(final=True)
        except BaseException:
            lt.call(job.close())
            raise
        return lt.call(_close_then_frame(job, base))


async def _close_then_frame(job: Job, base: Any) -> Any:
    """Close, then build the result frame, in one trip to the batch's thread (a trip costs ~0.1 ms,
    a tenth of a 1-row call the ledger answers). Built there because glibc keeps a heap per thread,
    and the memory the batch freed (rows, responses) is in that one (~1 MiB less peak for 10,000
    rows, issue 17)."""
    await job.close()
    return job.frame(base)


async def _ticker(view: Any) -> None:
    while True:
        await asyncio.sleep(0.25)
        view.update()


async def run_async(job: Job, base: Any = None) -> Any:
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


