"""One rate governor per Lamina server, shared by every client in the process.

Lamina allows about 100 requests per minute per IP, so every request of every client (and the
DataFrame fan-out) books a slot here first. Pure logic with an injectable clock; the drivers turn
`reserve()`'s answer into a Sleep. Rules:

- after a 429 whose hint is `retry_after` seconds, nobody sends until then (`pause`);
- `RateLimit-Remaining` / `RateLimit-Reset`, read on every response, spread what is left of the
  window: when the remaining budget drops to a quarter of the limit (or 10), requests are spaced
  reset/remaining apart, and at 0 everyone waits for the reset, before the server has to say 429;
- an optional fixed budget (requests per minute) spaces requests 60/budget seconds apart;
- no server hint pauses anyone for more than MAX_SERVER_WAIT (10 minutes): one response saying
  `RateLimit-Reset: 999999999` would otherwise stop every client of that server for decades. Longer
  hints are capped with a warning; negative, NaN and infinite ones are ignored (`sane_wait`).
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from .errors import LaminaWarning

Clock = Callable[[], float]
MAX_SERVER_WAIT = 600.0  # seconds: the longest pause any one server hint may impose


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


class RateGovernor:
    """Thread-safe slot booking: `reserve()` returns how long the caller must wait before sending."""

    def __init__(self, per_minute: float | None = None, clock: Clock = time.monotonic,
                 wall: Clock = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._wall = wall
        self._per_minute = per_minute
        self._next_slot = 0.0       # earliest time the next request may go
        self._paused_until = 0.0    # set by 429s and exhausted windows
        self._spacing = 0.0         # seconds between requests learned from RateLimit-* headers
        self._spacing_until = 0.0   # when the learned spacing expires (the window's reset)

    def set_budget(self, per_minute: float | None) -> None:
        """Fix a budget (requests per minute), or None to rely on the server's headers only."""
        with self._lock:
            self._per_minute = per_minute

    def _interval(self, now: float) -> float:
        fixed = 60.0 / self._per_minute if self._per_minute else 0.0
        learned = self._spacing if now < self._spacing_until else 0.0
        return max(fixed, learned)

    def reserve(self) -> float:
        """Book the next slot; returns seconds to wait (0 when the request may go now)."""
        with self._lock:
            now = self._clock()
            start = max(now, self._paused_until, self._next_slot)
            self._next_slot = start + self._interval(now)
            return start - now

    def pause(self, seconds: float) -> None:
        """Nobody sends for `seconds` (a 429's retry hint applies to the whole IP)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))

    def observe(self, status: int, headers: Mapping[str, str], retry_after: float | None = None) -> None:
        """Learn from a response: a 429 with a hint pauses everyone; RateLimit-* headers set the spacing."""
        hint = sane_wait(retry_after, "Retry-After") if status == 429 else None
        if hint is not None:
            self.pause(hint)
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
            if remaining < 1:
                self._paused_until = max(self._paused_until, now + reset)
                return
            low_water = max(10.0, (limit or 0.0) / 4)
            if remaining <= low_water:
                self._spacing = reset / remaining
                self._spacing_until = now + reset
            else:
                self._spacing, self._spacing_until = 0.0, 0.0

    def waiting_seconds(self) -> float:
        """How long a request booked now would wait: what progress displays show as
        "waiting N s for the rate limit"."""
        with self._lock:
            now = self._clock()
            return max(0.0, max(self._paused_until, self._next_slot) - now)

    def state(self) -> dict[str, float | None]:
        with self._lock:
            now = self._clock()
            return {"waiting_seconds": max(0.0, max(self._paused_until, self._next_slot) - now),
                    "paused_for": max(0.0, self._paused_until - now),
                    "interval": self._interval(now), "per_minute": self._per_minute}


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
