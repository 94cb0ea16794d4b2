"""Per-IP rate limiter (default 100 requests per 60 s, window scaled by time_factor).

The docs give the budget ("100 requests per minute per IP") but not how the window moves, so both
readings are served and `rate_limit_window` picks one:
- "sliding" (default, the stricter): at most `limit` requests in ANY window-long span, so no client
  can burst at a boundary; Reset is when the oldest counted request leaves the window;
- "fixed": a window starts with its first request and resets whole, as express-rate-limit's memory
  store does; up to twice the limit can pass around a boundary.
A 429 carries RateLimit-Limit / -Remaining / -Reset and Retry-After (whole seconds, at least 1), as the
docs show; with `rate_limit_headers="always"` every API response carries the RateLimit-* headers.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass

WINDOWS = ("sliding", "fixed")


@dataclass
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: float  # seconds until a slot frees (sliding) or the window resets (fixed)

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset))

    def headers(self) -> dict[str, str]:
        return {
            "ratelimit-limit": str(self.limit),
            "ratelimit-remaining": str(self.remaining),
            "ratelimit-reset": str(max(0, math.ceil(self.reset))),
        }


class RateLimiter:
    def __init__(self) -> None:
        self.fixed: dict[str, tuple[float, int]] = {}  # ip -> (window start, count)
        self.sliding: dict[str, deque[float]] = {}  # ip -> times of the requests still counted

    def reset(self) -> None:
        self.fixed.clear()
        self.sliding.clear()

    def check(self, key: str, limit: int, window: float, mode: str = "sliding",
              now: float | None = None) -> Verdict:
        now = time.monotonic() if now is None else now
        if mode == "fixed":
            return self._fixed(key, limit, window, now)
        return self._sliding(key, limit, window, now)

    def _fixed(self, key: str, limit: int, window: float, now: float) -> Verdict:
        start, count = self.fixed.get(key, (now, 0))
        if now - start >= window:
            start, count = now, 0
        reset = start + window - now
        if count >= limit:
            self.fixed[key] = (start, count)
            return Verdict(False, limit, 0, reset)
        count += 1
        self.fixed[key] = (start, count)
        return Verdict(True, limit, limit - count, reset)

    def _sliding(self, key: str, limit: int, window: float, now: float) -> Verdict:
        log = self.sliding.get(key)
        if log is None or log.maxlen != limit:
            log = self.sliding[key] = deque(log or (), maxlen=limit)
        while log and now - log[0] >= window:
            log.popleft()
        if len(log) >= limit:
            return Verdict(False, limit, 0, log[0] + window - now)
        log.append(now)
        return Verdict(True, limit, limit - len(log), log[0] + window - now)
