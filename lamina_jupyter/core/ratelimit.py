"""One rate governor per Lamina server, shared by every client in the process.

Lamina allows about 100 requests per minute per IP, so every request of every client (and the
DataFrame fan-out) books a slot here first. Pure logic with an injectable clock; the drivers turn
`reserve()`'s answer into a Sleep. Rules:

- a known limit (`set_budget` by the user, else `learn_limit` from the server's usage endpoint,
  which the fan-out reads before sending) spaces requests window/limit apart AND keeps a log of the
  last `limit` bookings: no request is booked less than a window (plus a margin, for the arrival
  jitter the server sees) after the one `limit` bookings before it. That holds under a sliding
  window as under a fixed one, so a batch runs at the limit without a 429 even when the server's
  headers only come with 429s, as the docs show;
- after a 429 whose hint is `retry_after` seconds, nobody sends until then (`pause`);
- `RateLimit-Remaining` / `RateLimit-Reset`, read on every response, spread what is left of the
  window: when the remaining budget drops to a quarter of the limit (or 10), requests are spaced
  reset/remaining apart, and at 0 everyone waits for the reset, before the server has to say 429.
  With a known limit this applies only when the server counts more than our own log (someone else
  shares the IP): alone, our log is exact, while Reset's whole seconds would overstate each wait;
- starts go before watches: a request that only watches a run (stream, /wait, a poll) is booked only
  when its slot is at most half an interval away; else nothing is booked and it asks again then, so
  a start arriving meanwhile takes the earlier slot. Watches never queue up far ahead, and a batch's
  last start leaves early, its run hidden under the watches still to send. With no start waiting the
  watch is booked on its next ask, so no slot is lost and no watch starves;
- no server hint pauses anyone for more than MAX_SERVER_WAIT (10 minutes): one response saying
  `RateLimit-Reset: 999999999` would otherwise stop every client of that server for decades. Longer
  hints are capped with a warning; negative, NaN and infinite ones are ignored (`sane_wait`).
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Mapping
from typing import NamedTuple
from urllib.parse import urlsplit

from .errors import LaminaWarning

Clock = Callable[[], float]
MAX_SERVER_WAIT = 600.0  # seconds: the longest pause any one server hint may impose
MARGIN = 0.02  # share of a window added between a booking and the one `limit` bookings before it
MAX_MARGIN = 0.16  # a 429 despite the log doubles the margin up to this; each clean window halves it back
UNKNOWN_LIMIT_LOG = 1000  # bookings kept before any limit is known, so the first window counts them
MAX_DECLARED_LIMIT = 10_000  # requests per window; a server declaring more is treated as unlimited
DEFER_HORIZON = 0.5  # share of an interval: how far ahead a deferrable request is booked (timer slack)
TICK = 0.001  # seconds: a deferrable slot this much beyond the horizon is still booked (clock precision)


def sane_wait(seconds: float | None, source: str) -> float | None:
    """A server's "wait this long" hint, made safe: None when missing, negative or not finite;
    capped at MAX_SERVER_WAIT with a warning naming the hint (`source`) when longer."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return None
    if seconds > MAX_SERVER_WAIT:
        warnings.warn(f"The server asked to wait {seconds:.6g} s ({source}); waiting at most "
                      f"{MAX_SERVER_WAIT:.0f} s instead.", LaminaWarning, stacklevel=3)
        return MAX_SERVER_WAIT
    return seconds


def _header_number(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return float(value.split(",")[0].split(";")[0].strip())
    except ValueError:
        return None


class Turn(NamedTuple):
    """The governor's answer: sleep `sleep` s, then send if `booked`, else ask again (a deferred watch).
    `wait` is how far away the slot is (for a deferred request, the one it would have had now)."""

    sleep: float
    booked: bool
    wait: float


class RateGovernor:
    """Thread-safe slot booking: `reserve()` returns how long the caller must wait before sending."""

    def __init__(self, per_minute: float | None = None, clock: Clock = time.monotonic,
                 wall: Clock = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._wall = wall
        self._per_minute: float | None = None
        self._learned: tuple[int, float] | None = None  # (requests, window seconds) the server declared
        self._booked: deque[float] = deque()  # recent booked send times, oldest first (see reserve)
        self._margin = MARGIN
        self._clean_until = 0.0     # the margin shrinks once a window passes without a 429
        self._next_slot = 0.0       # earliest time the next request may go
        self._paused_until = 0.0    # set by 429s and exhausted windows
        self._spacing = 0.0         # seconds between requests learned from RateLimit-* headers
        self._spacing_until = 0.0   # when the learned spacing expires (the window's reset)
        self.set_budget(per_minute)

    def set_budget(self, per_minute: float | None) -> None:
        """Fix a budget (requests per minute), or None to rely on the server's limit and headers."""
        if per_minute is not None and not (isinstance(per_minute, (int, float)) and math.isfinite(per_minute)
                                           and per_minute > 0):
            raise ValueError(f"set_budget takes a number of requests per minute above 0, or None; "
                             f"got {per_minute!r}")
        with self._lock:
            self._per_minute = per_minute

    def learn_limit(self, limit: int | None, window_seconds: float | None) -> None:
        """The limit the server declares (`GET /v1/account/usage`: rateLimit.limit per windowMs); None
        when it declares none. A budget set by the user takes precedence. Server data: a window over
        MAX_SERVER_WAIT would stall every client of the server, and a limit over MAX_DECLARED_LIMIT
        would grow the log without bound, so neither is learned."""
        learned = None
        if limit is not None and window_seconds is not None and 1 <= limit <= MAX_DECLARED_LIMIT \
                and 0 < window_seconds <= MAX_SERVER_WAIT:
            learned = (int(limit), float(window_seconds))
        with self._lock:
            self._learned = learned

    def _limit(self) -> tuple[float, float] | None:
        if self._per_minute:
            return self._per_minute, 60.0
        return self._learned

    def _interval(self, now: float) -> float:
        limit = self._limit()
        fixed = limit[1] / limit[0] if limit else 0.0
        learned = self._spacing if now < self._spacing_until else 0.0
        return max(fixed, learned)

    def reserve(self) -> float:
        """Book the next slot; returns seconds to wait (0 when the request may go now)."""
        return self.turn().sleep

    def turn(self, deferrable: bool = False) -> Turn:
        """Book the next slot, or, for a `deferrable` request whose slot is further than the horizon,
        book nothing and say when to ask again (see the module's rules)."""
        with self._lock:
            now = self._clock()
            start = max(now, self._paused_until, self._next_slot)
            limit = self._limit()
            if limit is not None and self._margin > MARGIN and now > self._clean_until:
                self._margin = max(MARGIN, self._margin / 2)
                self._clean_until = now + limit[1]
            logged = limit is not None and limit[0] <= MAX_DECLARED_LIMIT  # beyond: spacing only
            count = max(1, math.floor(limit[0])) if logged and limit else UNKNOWN_LIMIT_LOG
            if logged and limit and len(self._booked) >= count:
                start = max(start, self._booked[-count] + limit[1] * (1 + self._margin))
            interval = self._interval(now)
            early = start - now - interval * DEFER_HORIZON
            if deferrable and early > TICK:
                return Turn(early, False, start - now)
            self._booked.append(start)
            # twice the limit: bookings still in the future must not push out past ones _alone counts
            while len(self._booked) > 2 * count:
                self._booked.popleft()
            self._next_slot = start + interval
            return Turn(start - now, True, start - now)

    def pause(self, seconds: float) -> None:
        """Nobody sends for `seconds` (a 429's retry hint applies to the whole IP)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))

    def observe(self, status: int, headers: Mapping[str, str], retry_after: float | None = None) -> None:
        """Learn from a response: a 429 with a hint pauses everyone; RateLimit-* headers set the spacing."""
        hint = sane_wait(retry_after, "Retry-After") if status == 429 else None
        if hint is not None:
            self.pause(hint)
        if status == 429:
            self._widen()
        headers = {str(k).lower(): v for k, v in headers.items()}
        remaining = _header_number(headers, "ratelimit-remaining")
        reset = _header_number(headers, "ratelimit-reset")
        limit = _header_number(headers, "ratelimit-limit")
        if remaining is None or reset is None or not remaining >= 0:
            return
        if 1e9 < reset < 1e11:  # an epoch timestamp (2001 to 5138) rather than delta-seconds
            reset = max(0.0, reset - self._wall())
        reset = sane_wait(reset, "RateLimit-Reset")
        if reset is None:
            return
        with self._lock:
            now = self._clock()
            if status != 429 and self._alone(remaining, now):
                self._spacing, self._spacing_until = 0.0, 0.0
                return
            if remaining < 1:
                self._paused_until = max(self._paused_until, now + reset)
                return
            low_water = max(10.0, (limit or 0.0) / 4)
            if remaining <= low_water:
                self._spacing = reset / remaining
                self._spacing_until = now + reset
            else:
                self._spacing, self._spacing_until = 0.0, 0.0

    def _widen(self) -> None:
        """A 429 although the log kept the limit: arrivals jitter more than the margin allows (a busy
        machine, a slow network) or someone shares the IP, so keep more distance for a while."""
        with self._lock:
            limit = self._limit()
            if limit is not None:
                self._margin = min(MAX_MARGIN, self._margin * 2)
                self._clean_until = self._clock() + limit[1]

    def _alone(self, remaining: float, now: float) -> bool:
        """With a known limit: is the server's count no more than our own bookings of the last window?
        Ours are counted over the window plus the margin, as a response reaches us a little after the
        server counted, and a request arrives a little after its booking; a teammate spending less
        than that goes unseen until a 429, which pauses everyone and brings the header rules back."""
        limit = self._limit()
        if limit is None:
            return False
        ours, since = 0, now - limit[1] * (1 + self._margin)
        for t in reversed(self._booked):
            if t <= since:
                break
            ours += t <= now
        return remaining >= limit[0] - ours

    def waiting_seconds(self) -> float:
        """How long a request booked now would wait: what progress displays show as
        "waiting N s for the rate limit"."""
        with self._lock:
            now = self._clock()
            return max(0.0, max(self._paused_until, self._next_slot) - now)

    def state(self) -> dict[str, float | None]:
        with self._lock:
            now, limit = self._clock(), self._limit()
            return {"waiting_seconds": max(0.0, max(self._paused_until, self._next_slot) - now),
                    "paused_for": max(0.0, self._paused_until - now),
                    "interval": self._interval(now), "per_minute": self._per_minute,
                    "limit": None if limit is None else limit[0]}


_GOVERNORS: dict[str, RateGovernor] = {}
_REGISTRY_LOCK = threading.Lock()


def governor_for(base_url: str) -> RateGovernor:
    """The process-wide governor for one server origin (limits are per server, per IP)."""
    parts = urlsplit(base_url)
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    with _REGISTRY_LOCK:
        gov = _GOVERNORS.get(origin)
        if gov is None:
            gov = _GOVERNORS[origin] = RateGovernor()
        return gov
