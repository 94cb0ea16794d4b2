"""Which runs are already spoken for in this process, and what we know of the server's clock.

Both are the evidence a lost start answer is settled with (flows.create_run): a run that this
process started or follows (any client, form, magic call, batch or thread) is never taken as the
answer to another start, and a listed run counts as ours only if the server created it while our
request was in flight, on the server's clock. Both are process-wide, so every client sharpens them.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from contextvars import ContextVar

KNOWN_RUNS_LIMIT = 16384  # run ids remembered process-wide: far more than start within a reconcile window
UNKNOWN_OFFSET = 10.0    # seconds either way the server's clock may differ from ours before we know
CREATED_RESOLUTION = 0.001  # createdAt has millisecond resolution

# (registry, server, app id) of the start the current thread or task is settling: not its own sibling
_FLYING: ContextVar[frozenset[tuple[int, str, str]]] = ContextVar("lamina_start_in_flight",
                                                                  default=frozenset())


class RunRegistry:
    """Run ids this process started, adopted or follows, the most recent `limit` of them (a long-lived
    kernel's memory stays bounded; settling a start only asks about runs created seconds ago), and the
    starts still in flight: sent, neither answered nor settled, so their runs may be listed before any
    id is known. Thread-safe; `claim` is atomic, so two settling starts can never both take the same run."""

    def __init__(self, limit: int = KNOWN_RUNS_LIMIT) -> None:
        self._ids: dict[str, None] = {}  # insertion order = recency
        self._limit = limit
        self._lock = threading.Lock()
        self._flights: dict[tuple[str, str], int] = {}  # (server, app id) -> its starts in flight

    @contextlib.contextmanager
    def flight(self, server: str, app_id: str) -> Iterator[None]:
        """A start of `app_id` on `server` is on its way until the block ends (answered, adopted, or
        given up). Nested blocks of one thread or task (a batch row settling the client's start) count
        once."""
        mine, key = _FLYING.get(), (server, app_id)
        me = (id(self), *key)
        if me in mine:
            yield
            return
        _FLYING.set(mine | {me})
        with self._lock:
            self._flights[key] = self._flights.get(key, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._flights.pop(key) - 1
                if left:
                    self._flights[key] = left
            _FLYING.set(mine)  # not reset(token): a flow may be closed from another context

    def siblings(self, server: str, app_id: str) -> int:
        """Other starts of `app_id` on `server` in flight in this process (the caller's own not
        counted): each may have made a run the list shows while its id is not known yet."""
        with self._lock:
            count = self._flights.get((server, app_id), 0)
        return count - ((id(self), server, app_id) in _FLYING.get())

    def add(self, run_id: str) -> None:
        with self._lock:
            self._remember(run_id)

    def claim(self, run_id: str) -> bool:
        """Take the run; False when something in this process already had it."""
        with self._lock:
            if run_id in self._ids:
                return False
            self._remember(run_id)
            return True

    def _remember(self, run_id: str) -> None:
        self._ids.pop(run_id, None)
        self._ids[run_id] = None
        if len(self._ids) > self._limit:
            del self._ids[next(iter(self._ids))]

    def __contains__(self, run_id: object) -> bool:
        with self._lock:
            return run_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)


class ServerClock:
    """The server's clock minus ours, as an interval [lo, hi] of seconds. Each run we start narrows
    it: its createdAt lies between the moment we sent the start and the moment the answer arrived.
    (The `Date` header is not used: servers cache it, uvicorn for up to a second, so it proves less
    than it seems.)"""

    def __init__(self) -> None:
        self.lo, self.hi = -math.inf, math.inf
        self.newest: dict[str, tuple[str, float]] = {}  # app id -> (our latest run id, its createdAt)
        self._lock = threading.Lock()

    def observe(self, sent: float, received: float, created: float,
                run: tuple[str, str] | None = None) -> None:
        """A run we started (`run` = (app id, run id)) was created at `created` (server clock)."""
        lo, hi = created - received - CREATED_RESOLUTION, created - sent + CREATED_RESOLUTION
        with self._lock:
            if run is not None and created > self.newest.get(run[0], ("", -math.inf))[1]:
                self.newest[run[0]] = (run[1], created)
            if lo > self.hi or hi < self.lo:  # the clocks stepped (NTP, another server): start over
                self.lo, self.hi = lo, hi
            else:
                self.lo, self.hi = max(self.lo, lo), min(self.hi, hi)

    @property
    def doubt(self) -> float:
        """How many seconds wide the offset is known (infinite before the first run we started)."""
        return self.hi - self.lo

    def window(self, start: float, end: float) -> tuple[float, float]:
        """Our local interval [start, end] on the server's clock, widened by what we do not know."""
        lo = self.lo if math.isfinite(self.lo) else -UNKNOWN_OFFSET
        hi = self.hi if math.isfinite(self.hi) else UNKNOWN_OFFSET
        return start + lo, end + hi


RUNS = RunRegistry()
_clocks: dict[str, ServerClock] = {}
_clocks_lock = threading.Lock()


def clock_for(origin: str) -> ServerClock:
    """The process-wide clock estimate of one server (by base URL)."""
    with _clocks_lock:
        return _clocks.setdefault(origin, ServerClock())
