"""The fan-out engine: ledger-first dispatch of planned rows on one AsyncClient.

Per row: claim the batch, reuse / re-attach / reconcile / submit, then follow the run on ONE event
stream (start + stream = 2 requests for runs up to the stream's 10-minute cap, with queued -> running
shown live; polling 8 runs every 5 s would cost ~96 req/min, the whole budget). If a stream fails,
the client falls back to polling. Every request books the process-wide rate
governor (inside the client), so submits and waits share Lamina's ~100 requests/min.

Starts are serialised (one POST in flight per batch; the waits run concurrently). That costs
nothing under a 100 req/min limit and means at most ONE row of a batch can be SUBMITTING when the
process dies, so resuming can match it to "the one unknown run of this app created since t0"
instead of guessing between several (run summaries carry no inputs to match on). Rate limits,
5xx bursts and short outages are waited out, and unclear starts settled, in reconcile.py.

Polling through the list endpoint was considered: summaries carry no outputs, so every run still
needs its own GET at the end, and list polling only wins when more runs must be in flight than the
connection pool holds. One stream keeps it at 2 requests per run.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from typing import Any

from ..core.errors import LaminaError, RunFailedError, UncertainStartError, WaitTimeout
from ..core.models import App, Run
from .budget import SKIPPED, Budget
from .ledger import SUBMITTED, SUBMITTING, TERMINAL, UNKNOWN, Journal, canonical, fingerprint
from .lineage import run_times
from .outcome import Outcome, Report, origin_of, outputs_of, run_seconds
from .reconcile import OUTAGE_PATIENCE, RECONCILE_SKEW, Reconciling
from .thumbnails import Thumbnails

__all__ = ["BATCH_DEADLINE", "RECONCILE_SKEW", "Engine"]
BATCH_DEADLINE = 1800.0  # seconds a batch waits for one run (reliability.md: batch 30 min)
REUSED_STATUSES = ("completed", "failed")


class Engine(Reconciling):
    """Runs one batch; `outcomes[position]` is filled as rows finish (partial on interrupt)."""

    def __init__(
        self,
        aclient: Any,
        app: App,
        planned: list[Any],
        keys: list[str],
        *,
        journal: Journal | None,
        concurrency: int,
        tracker: Any,
        force_new: bool = False,
        cancel_in_flight: bool = False,
        thumbnails: bool = False,
        budget: Budget | None = None,
    ) -> None:
        self.client, self.app, self.planned, self.keys = aclient, app, planned, keys
        self.journal, self.concurrency, self.tracker = journal, concurrency, tracker
        self.force_new, self.cancel_in_flight, self.thumbnails = force_new, cancel_in_flight, thumbnails
        self.outcomes: dict[int, Outcome] = {}
        self.attempt: dict[int, int] = {}
        self.report = Report()
        self.origin = origin_of(aclient.base_url)
        self.batch_id = hashlib.sha256("\n".join([self.origin, app.id, *sorted(keys)]).encode()).hexdigest()[
            :16
        ]
        self.thumbs = Thumbnails(tracker)
        self.budget = budget or Budget()

    # -- the ledger decides what each row needs ----------------------------------------------------
    def _classify(self) -> tuple[list[Any], list[Any], list[Any]]:
        latest = self.journal.latest(self.keys) if self.journal else {}
        submit, reattach, reconcile, fresh = [], [], [], []
        for row, key in zip(self.planned, self.keys, strict=False):
            prior = latest.get(key)
            pos = row.position
            if (
                prior is None
                or self.force_new
                or (prior.state == TERMINAL and prior.status not in REUSED_STATUSES)
            ):
                fresh.append((row, key, (prior.attempt + 1) if prior else 1))
            elif prior.state == TERMINAL:
                self.outcomes[pos] = Outcome(
                    prior.status or "failed", prior.run_id, prior.outputs, prior.error, prior.seconds
                )
                self.tracker.set(pos, prior.status or "failed")
                self.report.reused += 1
            elif prior.state == SUBMITTED:
                self.attempt[pos] = prior.attempt
                reattach.append((row, key, prior))
            elif prior.state == SUBMITTING:
                self.attempt[pos] = prior.attempt
                reconcile.append((row, key, prior))
            elif prior.state == UNKNOWN:
                self.outcomes[pos] = Outcome("unknown", None, None, prior.error)
                self.tracker.set(pos, "unknown")
                self.report.unknown += 1
            else:  # PENDING: never left the machine
                self.attempt[pos] = prior.attempt
                submit.append((row, key))
        if fresh and self.journal:
            self.journal.add_pending(
                [
                    (
                        key,
                        attempt,
                        self.batch_id,
                        self.origin,
                        self.app.id,
                        repr(row.label),
                        fingerprint(self.app.id, row.payload),
                        canonical(row.payload),
                    )
                    for row, key, attempt in fresh
                ]
            )
        for row, key, attempt in fresh:
            self.attempt[row.position] = attempt
            submit.append((row, key))
        return submit, reattach, reconcile

    # -- requests ---------------------------------------------------------------------------------
    def _finish(self, pos: int, key: str, outcome: Outcome) -> None:
        self.outcomes[pos] = outcome
        self.tracker.set(pos, outcome.status)
        if self.journal and outcome.status in ("completed", "failed", "cancelled", "error"):
            self.journal.terminal(
                key,
                self.attempt[pos],
                outcome.status,
                outcome.outputs,
                outcome.error,
                outcome.seconds,
                outcome.run_id,
            )

    async def _submit(self, row: Any, key: str, lock: asyncio.Lock) -> None:
        pos = row.position
        async with lock:
            if not self.budget.take():  # max_credits: this start would pass the cap (budget.py)
                self._finish(pos, key, Outcome(SKIPPED, None, None, self.budget.skip_message()))
                return
            t0 = time.time()
            if self.journal and not self.journal.submitting(key, self.attempt[pos], t0):
                self.outcomes[pos] = Outcome("unknown", None, None, "another process took this row")
                self.tracker.set(pos, "unknown")
                return
            self.tracker.set(pos, "queued")
            try:
                run = await self._start(row, t0)
            except UncertainStartError as err:
                if self.journal:
                    self.journal.unknown(key, self.attempt[pos], str(err))
                self.outcomes[pos] = Outcome("unknown", None, None, str(err))
                self.tracker.set(pos, "unknown")
                self.report.unknown += 1
                return
            except LaminaError as err:  # rejected or never sent: no run exists, nothing was paid
                self.budget.refund()
                self._finish(pos, key, Outcome("error", None, None, str(err)))
                return
            if self.journal:
                self.journal.submitted(key, self.attempt[pos], run.id)
            self.report.submitted += 1
            self.outcomes[pos] = Outcome(run.status, run.id)
        await self._follow(row, key, run, t0)

    async def _start(self, row: Any, t0: float) -> Run:
        """Start the row's run; a start with an unknown outcome is settled through the run list
        (adopted, or sent again only when the list proves nothing was created)."""
        deadline = time.monotonic() + OUTAGE_PATIENCE
        while True:
            try:
                return await self._retrying(lambda: self.client.start(self.app, row.inputs))
            except UncertainStartError as err:
                found = await self._settle(err, t0, row.payload)
                if found is not None:
                    return found
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def _follow(self, row: Any, key: str, run: Run | str, t0: float | None) -> None:
        pos = row.position
        run_id = run.id if isinstance(run, Run) else run
        self.outcomes.setdefault(pos, Outcome("queued", run_id))
        self.tracker.set(pos, run.status if isinstance(run, Run) else "queued")
        try:
            # on_update makes the client follow the run's event stream: the progress display sees
            # queued -> running as it happens, still one request per run (a stream lasts 10 min).
            final = await self._retrying(lambda: self.client.wait(
                run, timeout=BATCH_DEADLINE, on_update=lambda r: self.tracker.set(pos, r.status)))
        except RunFailedError as err:
            final = err.run
        except (WaitTimeout, LaminaError) as err:  # the run goes on; the ledger keeps it SUBMITTED
            self.outcomes[pos] = Outcome(
                getattr(err, "last_status", None) or "running",
                run_id,
                None,
                f"{err} Run the same call again to re-attach.",
            )
            return
        self._finish(
            pos,
            key,
            Outcome(
                final.status,
                final.id or run_id,
                outputs_of(final),
                final.error_message,
                run_seconds(final, t0),
                *run_times(final),
            ),
        )
        if self.thumbnails and final.status == "completed":
            self.thumbs.add(str(row.label), final)

    # -- the batch ----------------------------------------------------------------------------------
    async def run(self) -> Report:
        if self.journal:
            self.journal.claim(self.batch_id)
        tasks: set[asyncio.Task[None]] = set()
        try:
            await self._dispatch(tasks)
        except (asyncio.CancelledError, KeyboardInterrupt):
            self.report.interrupted = True
            current = asyncio.current_task()
            if current is not None and hasattr(current, "uncancel"):
                current.uncancel()  # we answer the interrupt by returning the partial frame
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._after_interrupt()
        except BaseException:  # e.g. the ledger's disk failed: stop the siblings, then report it
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            self.thumbs.cancel()
            if self.journal:
                self.journal.release(self.batch_id)
        return self.report

    async def _dispatch(self, tasks: set[asyncio.Task[None]]) -> None:
        submit, reattach, reconcile = self._classify()
        adopted, resubmit = await self._reconcile(reconcile)
        sem = asyncio.Semaphore(self.concurrency)
        lock = asyncio.Lock()
        jobs: list[Any] = [("follow", row, key, prior.run_id, prior.t0) for row, key, prior in reattach]
        jobs += [("follow", row, key, run_id, t0) for row, key, run_id, t0 in adopted]
        self.report.reattached = len(reattach)
        jobs += [("submit", row, key) for row, key in resubmit + submit]
        for job in jobs:
            await sem.acquire()
            coro = (
                self._follow(job[1], job[2], job[3], job[4])
                if job[0] == "follow"
                else self._submit(job[1], job[2], lock)
            )
            task = asyncio.ensure_future(coro)
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            task.add_done_callback(lambda _: sem.release())
        while tasks:
            await asyncio.gather(*list(tasks))

    async def _after_interrupt(self) -> None:
        in_flight = [
            (pos, o) for pos, o in self.outcomes.items() if o.run_id and o.status in ("queued", "running")
        ]
        self.report.in_flight = len(in_flight)
        for _pos, o in in_flight:
            o.error = "interrupted while running; run the same call again to re-attach"
        if not self.cancel_in_flight:
            return
        key_of = {row.position: key for row, key in zip(self.planned, self.keys, strict=False)}

        async def cancel(pos: int, o: Outcome) -> None:
            with contextlib.suppress(LaminaError, asyncio.TimeoutError):
                run = await asyncio.wait_for(self.client.cancel(o.run_id), 15.0)
                status = run.status if run.is_done else "cancelled"
                self._finish(
                    pos,
                    key_of[pos],
                    Outcome(status, o.run_id, outputs_of(run), "cancelled after an interrupt", None),
                )

        await asyncio.gather(*(cancel(pos, o) for pos, o in in_flight))
