"""Patience and reconciliation for the fan-out engine: how a batch rides out rate limits and outages,
and how it settles starts whose outcome is unknown by asking the run list.

A batch never fails a row because the server was briefly unwell: a 429 waits for the server's
retryAfter; a 5xx, a refused connection or a dropped one (for a start: only those that provably
created nothing) waits with backoff and asks again, for up to OUTAGE_PATIENCE seconds of failures.
A start whose outcome is unknown is never resent blindly and never settled on a guess: the client's
rule (core/flows.py: a run is ours only on evidence) decides, and where doubt remains the row ends
`uncertain` with the candidate run(s) named. The same rule settles rows a killed kernel left
SUBMITTING; since nothing bounds when their request was in flight, only inputs shown in the run list
can prove which run is whose.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..core.claims import RUNS, clock_for
from ..core.errors import APIError, RateLimitError, TransportError, UncertainStartError
from ..core.flows import (
    CROWD_HORIZON,
    LISTING_SETTLE,
    SIBLING_PATIENCE,
    awaits_sibling,
    doubt_message,
    is_evidence,
    rival_runs,
    strangers,
)
from ..core.models import Run
from .outcome import Outcome, iso
from .outcome_store import Outcomes

MAX_RATE_RETRIES = 20
OUTAGE_PATIENCE = 300.0  # seconds of continuous failures a batch rides out before giving up on a call


def transient(err: BaseException) -> bool:
    """Worth asking again: the server failed (5xx) or could not be reached, and nothing is ambiguous."""
    if isinstance(err, UncertainStartError):
        return False
    if isinstance(err, TransportError):
        return True
    return isinstance(err, APIError) and (err.status_code or 0) >= 500 and err.retryable is not False


class Reconciling:
    """Mixed into Engine (which sets client, app, journal, report, outcomes and tracker)."""

    client: Any
    app: Any
    journal: Any
    report: Any
    outcomes: Outcomes
    attempt: dict[int, int]
    keys: list[str]
    tracker: Any

    async def _retrying(self, call: Any) -> Any:
        """Call until it answers: 429s wait for retryAfter, outages back off (module docstring)."""
        limited, failures = 0, 0
        first_failure: float | None = None  # never 0.0: the monotonic clock starts near 0 after a boot
        while True:
            try:
                return await call()
            except RateLimitError as err:
                limited += 1
                if limited >= MAX_RATE_RETRIES:
                    raise
                await asyncio.sleep(max(err.retry_after or 1.0, self.client.governor.waiting_seconds()))
            except (TransportError, APIError) as err:
                now = time.monotonic()
                first_failure = now if first_failure is None else first_failure
                if not transient(err) or now - first_failure > OUTAGE_PATIENCE:
                    raise
                failures += 1
                await asyncio.sleep(min(0.25 * 2 ** min(failures, 5), 5.0))

    async def _list_since(self, since: float) -> list[Run]:
        runs: list[Run] = []
        for page in range(20):
            batch = await self._retrying(
                lambda p=page: self.client.list_runs(
                    app=self.app.id, since=iso(since), limit=100, offset=100 * p
                )
            )
            runs.extend(batch)
            if len(batch) < 100:
                break
        return runs

    def _known(self) -> set[str]:
        """The runs the batch and its ledger hold (earlier kernels' runs of this batch included)."""
        known = {o.run_id for o in self.outcomes.values() if o.run_id}
        return known | (self.journal.known_run_ids() if self.journal else set())

    def _rivals(self, listed: list[Run], window: tuple[float, float], payload: Any) -> list[Run]:
        """The client's rule, with the runs the ledger knows."""
        return rival_runs(listed, window, payload, self._known())

    def _uncertain(self, pos: int, key: str, candidates: tuple[str, ...], why: str) -> None:
        """The row may have started a run; we cannot tell which (or whether): say so, name the run."""
        run_id = candidates[0] if len(candidates) == 1 else None
        if self.journal:
            self.journal.unknown(key, self.attempt[pos], why, status="uncertain", run_id=run_id)
        self.outcomes[pos] = Outcome("uncertain", run_id, None, why)
        self.tracker.set(pos, "uncertain")
        self.report.uncertain += 1

    async def _settle(self, err: UncertainStartError, payload: Any) -> Run | None:
        """After a start the client could not settle: the created run, None when it provably does not
        exist (resend), or an UncertainStartError naming the candidates."""
        if err.outcome == "absent":
            return None
        if err.outcome != "unchecked" or err.window is None:
            raise err
        server, clock = self.client.base_url, clock_for(self.client.base_url)
        for look in range(int(SIBLING_PATIENCE / LISTING_SETTLE) + 1):
            if look:  # our other starts in flight may yet name their runs (flows.awaits_sibling)
                await asyncio.sleep(LISTING_SETTLE)
            try:
                listed = await self._list_since(err.window[0] - CROWD_HORIZON)
            except (TransportError, APIError):
                raise err from None
            rivals = [r for r in self._rivals(listed, err.window, payload) if r.id not in RUNS]
            others = [r for r in strangers(listed, rivals, RUNS) if r.id not in self._known()]
            siblings = RUNS.siblings(server, self.app.id)
            if not awaits_sibling(clock, rivals, others, siblings):
                break
        if not rivals:
            return None
        if is_evidence(clock, rivals, others, siblings) and RUNS.claim(rivals[0].id):
            return rivals[0]
        raise UncertainStartError(doubt_message(self.app.id, rivals, "the run list was unreadable at first"),
                                  app_id=self.app.id, candidates=tuple(r.id for r in rivals),
                                  window=err.window)

    async def _reconcile(self, rows: list[Any]) -> tuple[list[Any], list[Any]]:
        """SUBMITTING rows: adopt what the inputs in the list prove, resubmit when the list shows no
        run at all, else `uncertain` with the candidates (no flight window bounds a killed kernel).
        Runs this process knows stay candidates here: the interrupted start itself may have made one."""
        if not rows:
            return [], []
        clock, now = clock_for(self.client.base_url), time.time()
        windows = [clock.window(p.t0 or now, now) for _, _, p in rows]  # SUBMITTING is written pre-POST
        listed = await self._list_since(min(w[0] for w in windows) - 1.0)
        per_row = [self._rivals(listed, w, row.payload) for (row, _, _), w in zip(rows, windows, strict=True)]
        everything = {r.id: r for runs in per_row for r in runs}
        adopt: list[Any] = []
        resubmit: list[Any] = []
        if not everything:
            for row, key, prior in rows:
                self.journal.back_to_pending(key, prior.attempt)
                resubmit.append((row, key))
            return adopt, resubmit
        by_inputs = all(isinstance(r.raw.get("inputs"), dict) for r in everything.values())
        for (row, key, prior), matches in zip(rows, per_row, strict=True):
            if by_inputs and len(matches) == 1 and RUNS.claim(matches[0].id):
                self.journal.submitted(key, prior.attempt, matches[0].id)
                adopt.append((row, key, matches[0].id, prior.t0))
                self.report.reconciled += 1
                continue
            candidates = tuple(r.id for r in matches) or tuple(everything)
            why = (
                "the ledger shows its start was interrupted (the kernel stopped before the answer was "
                f"written), and run(s) {', '.join(candidates)} of this app started since then could be it "
                "or another user's. Check them with client.get_run(...); "
                "retry_failed(adopt=True) follows the named run, retry_failed() starts the row again."
            )
            self._uncertain(row.position, key, candidates, why)
        return adopt, resubmit
