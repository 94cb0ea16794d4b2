"""When a waiter notices a change: the real service reads a run's state every 2 s for `/wait` and
`/stream` (lamina-api.md §4.7-4.8), so a change shows at the first of its checks after it happened.

Checks fall on the grid `opened + k * interval` (interval = check_interval x time_factor; 0 = at
once). Rather than waking every interval, a `Checks` sleeps until the run changes and then until the
next grid point, so a thousand idle waiters cost nothing.
"""

from __future__ import annotations

import asyncio
import math

from .run import TERMINAL, Run, wait_any
from .state import State


class Checks:
    """The server's periodic looks at one run, for one /wait or /stream request."""

    def __init__(self, state: State, run: Run) -> None:
        self.loop = asyncio.get_running_loop()
        self.opened = self.loop.time()
        self.every = state.settings.check_interval * state.settings.time_factor
        self.run = run
        self.seen = run.changed
        self.last = run.to_json("v1")  # what the latest check read

    def next_check(self, after: float) -> float:
        if self.every <= 0:
            return after
        return self.opened + math.ceil((after - self.opened) / self.every) * self.every

    async def changed(self, others: list[asyncio.Event], until: float) -> bool:
        """Wait for a check that finds the run changed (True, `last` updated); False when `until`
        (loop time) comes first or one of `others` fires."""
        if not await wait_any([self.seen, *others], until - self.loop.time()) or not self.seen.is_set():
            return False
        check = self.next_check(self.loop.time())
        if await wait_any(others, min(check, until) - self.loop.time()) or check > until:
            return False
        self.seen = self.run.changed
        self.last = self.run.to_json("v1")
        return True

    @property
    def terminal(self) -> bool:
        """Whether the latest check read a finished run."""
        return self.last["status"] in TERMINAL
