"""Fixed-window rate limiter (default 100 requests per 60 s per client IP, window scaled by time_factor).

A 429 carries RateLimit-Limit / -Remaining / -Reset and Retry-After (whole seconds, at least 1), as the
docs show; with `rate_limit_headers="always"` every API response carries the RateLimit-* headers.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


@dataclass
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: float  # seconds until the window resets

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset))

    def headers(self) -> dict[str, str]:
        return {
            "ratelimit-limit": str(self.limit),
            "ratelimit-remaining": str(self.remaining),
            "ratelimit-reset": str(max(0, math.ceil(self.reset))),
        }


class FixedWindowLimiter:
    def __init__(self) -> None:
        self.windows: dict[str, tuple[float, int]] = {}

    def reset(self) -> None:
        self.windows.clear()

    def check(self, key: str, limit: int, window: float, now: float | None = None) -> Verdict:
        now = time.monotonic() if now is None else now
        start, count = self.windows.get(key, (now, 0))
        if now - start >= window:
            start, count = now, 0
        reset = start + window - now
        if count >= limit:
            self.windows[key] = (start, count)
            return Verdict(False, limit, 0, reset)
        count += 1
        self.windows[key] = (start, count)
        return Verdict(True, limit, limit - count, reset)
