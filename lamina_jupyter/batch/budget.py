"""`max_credits`: a batch never starts a row that would take its estimated spend past the cap.

The cost of one run is the app's credit estimate (`POST /v1/apps/{id}/estimate`, expected credits),
read once before anything starts. The engine `reserve()`s an estimate before each start and
`settle()`s it when the start is answered, refunding a start the server rejected (no run exists,
nothing was paid). Starts overlap, so a row that does not fit waits for the answers of starts still
booked before it is skipped: one of them may be refused and give its credits back. Rows refused by
the budget end as `skipped`, keep no ledger entry past PENDING, and so start on a rerun with a
larger cap while finished rows are reused.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from ..core.errors import LaminaError

SKIPPED = "skipped"


def check_limit(max_credits: Any) -> float | None:
    if max_credits is None:
        return None
    if isinstance(max_credits, bool) or not isinstance(max_credits, (int, float)) or not max_credits >= 0:
        raise ValueError(f"max_credits must be a number of credits >= 0, not {max_credits!r}")
    return float(max_credits)


class Budget:
    """The cap (None: no cap) and the estimated spend so far, in credits."""

    def __init__(self, limit: float | None = None, per_run: float | None = None) -> None:
        self.limit, self.per_run = limit, per_run
        self.spent = 0.0
        self.skipped = 0
        self._unanswered = 0  # starts booked whose answer has not come
        self._answered = asyncio.Event()

    async def reserve(self) -> bool:
        """Book one run's estimate; False (nothing booked) when it would pass the cap even after every
        start still unanswered has been answered."""
        cost = self.per_run or 0.0
        while self.limit is not None and self.spent + cost > self.limit:
            if not self._unanswered:
                self.skipped += 1
                return False
            self._answered.clear()
            await self._answered.wait()
        self.spent += cost
        self._unanswered += 1
        return True

    def settle(self, refund: bool) -> None:
        """A reserved start was answered; `refund` when the server refused it (no run, nothing paid)."""
        self._unanswered -= 1
        if refund:
            self.spent = max(0.0, self.spent - (self.per_run or 0.0))
        self._answered.set()

    def skip_message(self) -> str:
        return (f"not started: one more run (~{self.per_run:g} credits, estimated) would take the batch past "
                f"max_credits={self.limit:g} ({self.spent:g} already committed). Run the same call again "
                "with a larger max_credits: finished rows are reused, only these start.")

    def line(self) -> str | None:
        """What the progress display shows: estimated credits spent so far and what is left."""
        if self.per_run is None:
            return None
        text = f"credits ~{self.spent:g} spent (estimated)"
        if self.limit is not None:
            text += f", {self.limit - self.spent:g} of max_credits={self.limit:g} left"
        if self.skipped:
            text += f", {self.skipped} row(s) skipped"
        return text


async def plan_budget(aclient: Any, app: Any, limit: float | None) -> Budget:
    """The batch's budget; with a cap, the per-run estimate is required (no estimate, no guess)."""
    if limit is None:
        return Budget()
    try:
        estimate = await aclient.estimate(app)
    except LaminaError as exc:
        raise LaminaError(f"max_credits needs the app's credit estimate, which could not be read: "
                          f"{exc.message} Nothing was started. Retry, or run without max_credits.") from None
    if estimate.expected is None:
        raise LaminaError("max_credits needs the app's credit estimate, but the server sent none. Nothing "
                          "was started; run without max_credits to go ahead uncapped.")
    return Budget(limit, estimate.expected)


def budget_lines(total: float | None, balance: float | None, per_run: float | None,
                 max_credits: float | None, to_submit: int) -> list[str]:
    """The dry run's verdict: the batch's estimated credits against the balance and the cap."""
    out = []
    if total is not None and balance is not None:
        if total > balance:
            out.append(f"NOT AFFORDABLE: about {total:g} credits needed, the balance is {balance:g}. "
                       f"Top up, or run fewer rows (max_credits={balance:g} would start "
                       f"{_fits(balance, per_run, to_submit)} of {to_submit}).")
        else:
            out.append(f"Balance: {balance:g} credits; about {balance - total:g} left after this batch.")
    elif balance is not None:
        out.append(f"Balance: {balance:g} credits.")
    if max_credits is not None and per_run is not None:
        fits = _fits(max_credits, per_run, to_submit)
        skipped = f"; {to_submit - fits} would be skipped" if fits < to_submit else ""
        out.append(f"max_credits={max_credits:g}: {fits} of {to_submit} row(s) would start{skipped}.")
    return out


def _fits(limit: float, per_run: float | None, rows: int) -> int:
    return rows if not per_run else min(rows, math.floor(limit / per_run + 1e-9))
