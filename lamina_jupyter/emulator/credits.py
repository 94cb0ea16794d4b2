"""The workspace's credit balance: runs consume it by their estimate when it is metered.

Unmetered (the default, `credits=None`) the balance is reported from a notional grant and never
refuses a run, so long load tests cannot run dry. `configure(credits=N)` grants exactly N and
meters it: a run whose estimate exceeds what is left is refused. The real server's answer at zero
balance is undocumented; we send a plausible v1 envelope, status `out_of_credits_status` (402 by
default), code INSUFFICIENT_CREDITS, not retryable, so clients can be tested against it.
"""

from __future__ import annotations

from collections.abc import Sequence

from .apps import App, OutputSpec
from .errors import ApiError
from .state import State

NOTIONAL_GRANT = 10000.0


def granted(state: State) -> float:
    metered = state.settings.credits
    return NOTIONAL_GRANT if metered is None else float(metered)


def balance(state: State) -> float:
    return granted(state) - state.credits_spent


def charge(state: State, cost: float) -> None:
    """Book a run's cost, or refuse it when the metered balance cannot cover it."""
    left = balance(state)
    if state.settings.credits is not None and cost > left:
        raise ApiError(
            "INSUFFICIENT_CREDITS",
            f"Insufficient credits: this run needs {cost:g}, the workspace has {left:g} left. "
            "Top up the workspace's credits and try again.",
            status=state.settings.out_of_credits_status,
        )
    state.credits_spent += cost


def cost(app: App, outputs: Sequence[OutputSpec] | None = None) -> int:
    """Credits one run of `app` takes: the sum over the outputs it produces (all by default)."""
    return sum(o.credits for o in (app.outputs if outputs is None else outputs))
