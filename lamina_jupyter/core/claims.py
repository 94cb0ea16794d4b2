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
from urllib.parse import urlsplit

KNOWN_RUNS_LIMIT = 16384  # run ids remembered process-wide: far more than start within a reconcile window
UNKNOWN_OFFSET = 10.0    # seconds either way the server's clock may differ from ours before we know
CREATED_RESOLUTION = 0.001  # createdAt has millisecond resolution

# the starts the current thread or task is settling, by (registry, server, app id): not its own siblings
_FLYING: ContextVar[dict[tuple[int, str, str], Flight] | None] = ContextVar("lamina_start_in_flight",
                                                                            default=None)
_LOOPBACK = {"localhost": "127.0.0.1", "[::1]": "127.0.0.1"}
_PORTS = {"http": 80, "https": 443}


def server_key(base_url: str) -> str:
    """One spelling per server: scheme and host lower-case, the port explicit, loopback names as one
    (a form's client on localhost and a cell's on 127.0.0.1 start runs on the same emulator)."""
    parts = urlsplit(base_url.strip())
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    host = _LOOPBACK.get(f"[{host}]" if ":" in host else host, host)
    try:
        port = parts.port or _PORTS.get(scheme)
    except ValueError:
        port = None
    return f"{scheme}://{host}:{port}"


class Flight:
    """One start of ours: `sent` is when its current request went out (our clock), None while it
    owns no run for certain (waiting for its turn, refused, or shown absent by the run list)."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent: float | None = None


class RunRegistry:
    """Run ids this process started, adopted or follows, the most recent `limit` of them (a long-lived
    kernel's memory stays bounded; settling a start only asks about runs created seconds ago), and the
    starts still in flight: sent, neither answered nor settled, so their runs may be listed before any
    id is known. Thread-safe; `claim` is atomic, so two settling starts can never both take the same run."""

    def __init__(self, limit: int = KNOWN_RUNS_LIMIT) -> None:
        self._ids: dict[str, None] = {}  # insertion order = recency
        self._limit = limit
        self._lock = threading.Lock()
        self._flights: dict[tuple[str, str], list[Flight]] = {}  # (server, app id) -> its starts in flight

    @contextlib.contextmanager
    def flight(self, server: str, app_id: str) -> Iterator[Flight]:
        """A start of `app_id` on `server` is ours to settle until the block ends (answered, adopted,
        or given up); the request layer marks the Flight when its POST is on the wire. Nested blocks
        of one thread or task (a batch row settling the client's start) share one Flight."""
        key = (server_key(server), app_id)
        mine, me = _FLYING.get() or {}, (id(self), *key)
        if me in mine:
            yield mine[me]
            return
        flight = Flight()
        _FLYING.set({**mine, me: flight})
        with self._lock:
            self._flights.setdefault(key, []).append(flight)
        try:
            yield flight
        finally:
            with self._lock:
                flights = self._flights[key]
                flights.remove(flight)
                if not flights:
                    del self._flights[key]
            _FLYING.set(mine)  # not reset(token): a flow may be closed from another context

    def siblings(self, server: str, app_id: str) -> list[float]:
        """When our other starts of `app_id` on `server` now on the wire (or unsettled) were sent, the
        caller's own excluded: each may have made one run, after that moment, that the list shows
        before its id is known."""
        key = (server_key(server), app_id)
        own = (_FLYING.get() or {}).get((id(self), *key))
        with self._lock:
            flights = list(self._flights.get(key, ()))
        return sorted(f.sent for f in flights if f is not own and f.sent is not None)

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
