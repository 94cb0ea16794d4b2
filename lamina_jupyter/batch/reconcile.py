"""Patience and reconciliation for the fan-out engine: how a batch rides out rate limits and outages,
and how it settles starts whose outcome is unknown by asking the run list.

A batch never fails a row because the server was briefly unwell: a 429 waits for the server's
retryAfter; a 5xx, a refused connection or a dropped one (for a start: only those that provably
created nothing) waits with backoff and asks again, for up to OUTAGE_PATIENCE seconds of failures.
A start whose outcome is unknown is never resent blindly: the run list decides (adopt the one new
run, resend when it proves absence, else the row is UNKNOWN).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..core.errors import APIError, RateLimitError, TransportError, UncertainStartError
from ..core.flows import RECONCILE_SKEW  # the client's own reconciliation uses the same window
from ..core.models import Run
from .ledger import canonical
from .outcome import Outcome, iso

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
    outcomes: dict[int, Outcome]
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

    def _batch_run_ids(self) -> set[str]:
        mine = {o.run_id for o in self.outcomes.values() if o.run_id}
        if self.journal:
            mine |= {a.run_id for a in self.journal.latest(self.keys).values() if a.run_id}
        return mine

    async def _candidates(self, t0: float, payloads: list[Any]) -> list[list[Run]]:
        """Per payload, the unknown runs of this app created since t0 (minus skew) that could be it."""
        listed = await self._list_since(t0 - RECONCILE_SKEW)
        mine = self._batch_run_ids()
        known = mine | (self.journal.known_run_ids() if self.journal else set())
        found = [r for r in listed if r.id and r.id not in known]
        if len(found) > len(payloads):
            # A batch starts its runs one at a time, so its own runs are older than any of these
            # starts: runs created before the batch's latest listed run are another notebook's.
            anchors = [r.created_at for r in listed if r.id in mine and r.created_at]
            floor = max(anchors) if anchors else None
            later = [r for r in found if floor and r.created_at and r.created_at >= floor]
            found = later or found
        if found and all(isinstance(r.raw.get("inputs"), dict) for r in found):
            return [[r for r in found if canonical(r.raw["inputs"]) == canonical(p)] for p in payloads]
        return [list(found) if len(payloads) == 1 else [] for _ in payloads]

    async def _settle(self, err: UncertainStartError, t0: float, payload: Any) -> Run | None:
        """After a start the client could not settle: the created run, or None when it provably
        does not exist (resend); re-raises `err` when the list cannot tell."""
        if err.outcome == "absent":
            return None
        if err.outcome != "unchecked":
            raise err
        try:
            matches = (await self._candidates(t0, [payload]))[0]
        except (TransportError, APIError):
            raise err from None
        if len(matches) > 1:
            raise err
        return matches[0] if matches else None

    async def _reconcile(self, rows: list[Any]) -> tuple[list[Any], list[Any]]:
        """SUBMITTING rows: adopt the run the list proves, resubmit when it proves absence, else UNKNOWN."""
        if not rows:
            return [], []
        t0 = min(p.t0 or time.time() for _, _, p in rows)
        per_row = await self._candidates(t0, [row.payload for row, _, _ in rows])
        everything = {r.id for runs in per_row for r in runs}
        adopt: list[Any] = []
        resubmit: list[Any] = []
        if not everything:
            for row, key, prior in rows:
                self.journal.back_to_pending(key, prior.attempt)
                resubmit.append((row, key))
            return adopt, resubmit
        taken: set[str] = set()
        for (row, key, prior), matches in zip(rows, per_row, strict=True):
            matches = [r for r in matches if r.id not in taken]
            if len(matches) == 1:
                match = matches[0]
                self.journal.submitted(key, prior.attempt, match.id)
                taken.add(match.id)
                adopt.append((row, key, match.id, prior.t0))
                self.report.reconciled += 1
            else:
                why = (
                    "the ledger shows its start was interrupted and "
                    f"{len(matches) or len(everything)} unknown run(s) of this app were created since then, "
                    "so it cannot tell which is this row's. "
                    f"Check client.list_runs(app={self.app.id!r}, since={iso(t0 - RECONCILE_SKEW)!r}); "
                    "retry_failed(include_unknown=True) starts it again."
                )
                self.journal.unknown(key, prior.attempt, why)
                self.outcomes[row.position] = Outcome("unknown", None, None, why)
                self.tracker.set(row.position, "unknown")
                self.report.unknown += 1
        return adopt, resubmit
