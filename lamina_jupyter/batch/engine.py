"""The fan-out engine: ledger-first dispatch of planned rows on one AsyncClient.

Per row: claim the batch, reuse / re-attach / reconcile / submit, then follow the run on ONE event
stream (start + stream = 2 requests for runs up to the stream's 10-minute cap, with queued -> running
shown live; polling 8 runs every 5 s would cost ~96 req/min, the whole budget). If a stream fails,
the client falls back to polling. Every request books the process-wide rate
governor (inside the client), so submits and waits share Lamina's ~100 requests/min.

Starts overlap, bounded (MAX_STARTS per batch): one start whose answer stalls holds one slot, so
it costs one row, not the batch. Several rows can therefore be SUBMITTING when the process dies;
each is settled by the same evidence rule as a live start (reconcile.py): adopted only when the
run list proves it is this row's run, else `uncertain` with the candidate named. Rate limits,
5xx bursts and short outages are waited out, and unclear starts settled, in reconcile.py.

Polling through the list endpoint was considered: summaries carry no outputs, so every run still
needs its own GET at the end, and list polling only wins when more runs must be in flight than the
connection pool holds. One stream keeps it at 2 requests per run.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import time
from array import array
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from ..core.claims import RUNS
from ..core.errors import LaminaError, RunFailedError, UncertainStartError, WaitTimeout
from ..core.flows import CROWD_HORIZON, RECONCILE_SKEW
from ..core.models import App, Run
from .budget import SKIPPED, Budget
from .ledger import SUBMITTED, SUBMITTING, TERMINAL, UNKNOWN, Journal, canonical, fingerprint, word
from .lineage import run_times
from .outcome import Outcome, Report, origin_of, outputs_of, run_seconds
from .outcome_store import Outcomes, Row
from .reconcile import OUTAGE_PATIENCE, Reconciling
from .thumbnails import Thumbnails

__all__ = ["BATCH_DEADLINE", "RECONCILE_SKEW", "Engine"]
BATCH_DEADLINE = 1800.0  # seconds a batch waits for one run (reliability.md: batch 30 min)
MAX_STARTS = 2  # start requests in flight per batch: a kill leaves at most this many rows uncertain
START_GRACE = 10.0  # seconds an interrupted batch waits for starts already sent to answer
USAGE_PATIENCE = 5.0  # seconds a batch waits for the declared limit (see _learn_rate_limit)
REUSED_STATUSES = ("completed", "failed")
# seconds back the ledger's runs are made known to this process: a lost start's list reaches
# CROWD_HORIZON back, and the server's clock may differ from ours by RECONCILE_SKEW
LEDGER_HORIZON = 2 * (CROWD_HORIZON + RECONCILE_SKEW)


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
        adopt: dict[int, str] | None = None,
        budget: Budget | None = None,
    ) -> None:
        self.client, self.app, self.planned, self.keys = aclient, app, planned, keys
        self.adopt = adopt or {}  # position -> run id the user chose to follow instead of a new start
        self.journal, self.concurrency, self.tracker = journal, concurrency, tracker
        self.force_new, self.cancel_in_flight, self.thumbnails = force_new, cancel_in_flight, thumbnails
        self.outcomes = Outcomes(1 + max((row.position for row in planned), default=-1))
        # planned[i] is dropped once row i is dispatched (its task holds it): positions stay for keys
        self.positions = array("q", (row.position for row in planned))
        self.attempt: dict[int, int] = {}
        self.report = Report()
        self.origin = origin_of(aclient.base_url)
        self.batch_id = hashlib.sha256("\n".join([self.origin, app.id, *sorted(keys)]).encode()).hexdigest()[
            :16
        ]
        self.thumbs = Thumbnails(tracker)
        self.budget = budget or Budget()

    # -- the ledger decides what each row needs ----------------------------------------------------
    def _classify(self) -> tuple[list[int], list[Any], list[Any]]:
        """(rows to submit as indices into planned and keys, not a tuple per row; rows to re-attach;
        rows to reconcile)."""
        latest = self.journal.latest(self.keys) if self.journal else {}
        reattach, reconcile = [], []
        submit: list[int] = []
        fresh: list[int] = []
        for i, (row, key) in enumerate(zip(self.planned, self.keys, strict=False)):
            prior = latest.get(key)
            pos = row.position
            if (
                prior is None
                or self.force_new
                or (prior.state == TERMINAL and prior.status not in REUSED_STATUSES)
            ):
                self.attempt[pos] = (prior.attempt + 1) if prior else 1
                fresh.append(i)
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
                status = prior.status or "unknown"
                self.outcomes[pos] = Outcome(status, prior.run_id, None, prior.error)
                self.tracker.set(pos, status)
                if status == "uncertain":
                    self.report.uncertain += 1
                else:
                    self.report.unknown += 1
            else:  # PENDING: never left the machine
                self.attempt[pos] = prior.attempt
                submit.append(i)
        if fresh and self.journal:
            self.journal.add_pending(map(self._pending, fresh))
        submit.extend(fresh)
        return submit, reattach, reconcile

    def _pending(self, i: int) -> tuple[str, int, str, str, str, str, str, str]:
        """The ledger's PENDING record of row i, made as the ledger writes it."""
        row = self.planned[i]
        return (self.keys[i], self.attempt[row.position], self.batch_id, self.origin, self.app.id,
                repr(row.label), fingerprint(self.app.id, row.payload), canonical(row.payload))

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

    async def _submit(self, row: Any, key: str, starts: asyncio.Semaphore) -> None:
        pos = row.position
        async with starts:
            if not await self.budget.reserve():  # max_credits: this start would pass the cap (budget.py)
                self._finish(pos, key, Outcome(SKIPPED, None, None, self.budget.skip_message()))
                return
            refused = True  # a start not sent, or refused by the server, gives its estimate back
            try:
                t0 = time.time()
                if self.journal and not self.journal.submitting(key, self.attempt[pos], t0):
                    self.outcomes[pos] = Outcome("unknown", None, None, "another process took this row")
                    self.tracker.set(pos, "unknown")
                    return
                self.tracker.set(pos, "queued")
                refused = False
                try:
                    run = await self._start_or_record(row, key)
                except UncertainStartError as err:
                    self._uncertain(pos, key, err.candidates, str(err))
                    return
                except LaminaError as err:  # rejected or never sent: no run exists, nothing was paid
                    refused = True
                    self._finish(pos, key, Outcome("error", None, None, str(err)))
                    return
            finally:
                self.budget.settle(refund=refused)
            if self.journal:
                self.journal.submitted(key, self.attempt[pos], run.id)
            if pos in self.adopt:
                self.report.reconciled += 1
            else:
                self.report.submitted += 1
            self.outcomes[pos] = Outcome(run.status, run.id)
        await self._follow(row, key, run, t0)

    async def _start_or_record(self, row: Any, key: str) -> Run:
        """Start the row; on an interrupt let a start already on the wire answer (up to START_GRACE
        seconds) and record its run, so the rerun re-attaches instead of facing an uncertain row."""
        start = asyncio.ensure_future(self._start(row))
        try:
            return await asyncio.shield(start)
        except asyncio.CancelledError:
            with contextlib.suppress(LaminaError, asyncio.TimeoutError):
                run = await asyncio.wait_for(start, START_GRACE)
                if self.journal:
                    self.journal.submitted(key, self.attempt[row.position], run.id)
                self.outcomes[row.position] = Outcome(run.status, run.id)
            raise

    async def _start(self, row: Any) -> Run:
        """Start the row's run, or follow the run the user chose for it (retry_failed(adopt=True)); a
        start with an unknown outcome is settled through the run list (adopted on evidence, sent
        again only when the list shows nothing, else UncertainStartError)."""
        chosen = self.adopt.get(row.position)
        if chosen is not None:
            RUNS.add(chosen)
            return await self._retrying(lambda: self.client.get_run(chosen))
        deadline = time.monotonic() + OUTAGE_PATIENCE
        # in flight until settled here too, not only inside client.start
        with RUNS.flight(self.client.base_url, self.app.id) as flight:
            while True:
                try:
                    return await self._retrying(lambda: self.client.start(self.app, row.inputs))
                except UncertainStartError as err:
                    if err.outcome == "ambiguous" or time.monotonic() > deadline:
                        raise
                    found = await self._settle(err, row.payload)
                    flight.sent = None  # settled: the run found is known, or there was none
                    if found is not None:
                        return found
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
                run, timeout=BATCH_DEADLINE, on_update=lambda r: self._seen(pos, r.status)))
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
                word(final.status),
                final.id or run_id,  # the string claims.RUNS holds (it keeps the last one parsed)
                outputs_of(final),
                final.error_message,
                run_seconds(final, t0),
                *run_times(final),
            ),
        )
        if self.thumbnails and final.status == "completed":
            self.thumbs.add(str(row.label), final)

    def _seen(self, pos: int, status: str) -> None:
        """A live state from the run's stream: the display and the frame (read on interrupt) agree."""
        if status in ("queued", "running"):
            self.outcomes[pos].status = status
        self.tracker.set(pos, status)

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
        if self.journal and (submit or resubmit):
            # an earlier kernel's runs are ours, not a crowd, if one of these starts loses its answer
            for run_id in self.journal.recent_run_ids(time.time() - LEDGER_HORIZON):
                RUNS.add(run_id)
        sem = asyncio.Semaphore(self.concurrency)
        starts = asyncio.Semaphore(MAX_STARTS)
        self.report.reattached = len(reattach)
        # each coroutine is made when its slot frees, not one per row up front
        jobs: Iterator[tuple[Callable[..., Awaitable[None]], tuple[Any, ...]]] = itertools.chain(
            ((self._follow, (row, key, prior.run_id, prior.t0)) for row, key, prior in reattach),
            ((self._follow, (row, key, run_id, t0)) for row, key, run_id, t0 in adopted),
            ((self._submit, (row, key, starts)) for row, key in resubmit),
            ((self._submit, (self._release(i), self.keys[i], starts)) for i in submit),
        )
        if reattach or adopted or resubmit or submit:
            await self._learn_rate_limit()
        for step, args in jobs:
            await sem.acquire()
            task = asyncio.ensure_future(step(*args))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            task.add_done_callback(lambda _: sem.release())
        while tasks:
            await asyncio.gather(*list(tasks))

    def _release(self, i: int) -> Any:
        """Planned row i, no longer held by the batch: a 10,000-row batch frees its rows as they go."""
        row, self.planned[i] = self.planned[i], None
        return row

    async def _learn_rate_limit(self) -> None:
        """Read the limit the server declares (usage endpoint), so the governor paces this batch at
        it from the first request: the documented server sends RateLimit-* headers only with a 429,
        too late to avoid one. Skipped when the user fixed a budget; a server without the endpoint
        (or api="legacy"), or one not answering within USAGE_PATIENCE, leaves the governor to its
        headers and 429 pauses."""
        if self.client.governor.state()["per_minute"]:
            return
        with contextlib.suppress(LaminaError, asyncio.TimeoutError):
            await asyncio.wait_for(self.client.usage(), USAGE_PATIENCE)

    async def _after_interrupt(self) -> None:
        in_flight = [
            (pos, o) for pos, o in self.outcomes.items() if o.run_id and o.status in ("queued", "running")
        ]
        self.report.in_flight = len(in_flight)
        for _pos, o in in_flight:
            o.error = "interrupted while running; run the same call again to re-attach"
        if not self.cancel_in_flight:
            return
        key_of = dict(zip(self.positions, self.keys, strict=False))

        async def cancel(pos: int, o: Row) -> None:
            with contextlib.suppress(LaminaError, asyncio.TimeoutError):
                run = await asyncio.wait_for(self.client.cancel(o.run_id), 15.0)
                status = run.status if run.is_done else "cancelled"
                self._finish(
                    pos,
                    key_of[pos],
                    Outcome(status, o.run_id, outputs_of(run), "cancelled after an interrupt", None),
                )

        await asyncio.gather(*(cancel(pos, o) for pos, o in in_flight))
        self.report.cancelled = sum(self.outcomes[pos].status == "cancelled" for pos, _ in in_flight)
