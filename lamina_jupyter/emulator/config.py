"""Mutable emulator settings and counters shared by every module (one instance per Emulator)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, fields, replace
from typing import Any

RATE_LIMIT_HEADERS = ("on-429", "always")  # when RateLimit-* headers are sent
RATE_LIMIT_WINDOWS = ("sliding", "fixed")  # how the per-IP window moves (ratelimit.py)


@dataclass
class Settings:
    """Knobs changed through `Emulator.configure`; time_factor scales every documented API constant
    (rate window, Retry-After, webhook backoff, SSE ping and cap, the /wait and /stream check
    interval) but not run latency."""

    latency: float = 2.0
    jitter: float = 0.2
    failure_rate: float = 0.0
    rate_limit: int | None = 100
    time_factor: float = 1.0
    hold: bool = False
    rate_limit_headers: str = "on-429"
    rate_limit_window: str = "sliding"
    check_interval: float = 2.0  # /wait and /stream look at a run this often (x time_factor)
    credits: float | None = None  # a metered starting balance (credits.py); None: never runs dry
    out_of_credits_status: int = 402  # the HTTP status of a run refused for lack of credits

    def update(self, **changes: Any) -> None:
        """Apply all of `changes` or, when any is unknown or invalid, none of them."""
        known = [f.name for f in fields(self)]
        for name in changes:
            if name not in known:
                raise TypeError(f"configure() got an unknown setting {name!r}; known: {', '.join(known)}")
        candidate = replace(self, **changes)
        candidate.validate()
        self.__dict__.update(candidate.__dict__)

    def validate(self) -> None:
        for name in ("latency", "jitter", "failure_rate", "time_factor", "check_interval"):
            if not _is_number(getattr(self, name)):
                raise ValueError(f"{name} must be a number, got {getattr(self, name)!r}")
        if self.latency < 0 or self.jitter < 0 or self.check_interval < 0 or self.time_factor <= 0:
            raise ValueError("latency, jitter and check_interval must be >= 0 and time_factor > 0")
        if not 0 <= self.failure_rate <= 1:
            raise ValueError("failure_rate must be between 0 and 1")
        limit = self.rate_limit
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise ValueError("rate_limit must be a positive integer or None (no limit)")
        if self.rate_limit_headers not in RATE_LIMIT_HEADERS:
            raise ValueError(f"rate_limit_headers must be one of {', '.join(RATE_LIMIT_HEADERS)}")
        if self.rate_limit_window not in RATE_LIMIT_WINDOWS:
            raise ValueError(f"rate_limit_window must be one of {', '.join(RATE_LIMIT_WINDOWS)}")
        if self.credits is not None and (not _is_number(self.credits) or self.credits < 0):
            raise ValueError(f"credits must be a number >= 0 or None (unmetered), got {self.credits!r}")
        status = self.out_of_credits_status
        if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status < 600:
            raise ValueError(f"out_of_credits_status must be an HTTP error status (4xx/5xx), got {status!r}")
        if not isinstance(self.hold, bool):
            raise ValueError(f"hold must be true or false, got {self.hold!r}")

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class Stats:
    runs_created: int = 0
    requests: int = 0
    peak_running: int = 0
    running: int = 0
    rate_limited: int = 0
    duplicate_starts: int = 0
    webhook_deliveries: int = 0
    uploads: int = 0
    requests_by_route: Counter = field(default_factory=Counter)

    def snapshot(self) -> dict[str, Any]:
        return {
            "runs_created": self.runs_created,
            "requests": self.requests,
            "peak_running": self.peak_running,
            "running": self.running,
            "rate_limited": self.rate_limited,
            "duplicate_starts": self.duplicate_starts,
            "webhook_deliveries": self.webhook_deliveries,
            "uploads": self.uploads,
            "requests_by_route": dict(self.requests_by_route),
        }

    def reset(self) -> None:
        """Zero every counter; `running` is a gauge, so it (and the peak) start from the current value."""
        fresh = Stats(running=self.running, peak_running=self.running)
        self.__dict__.update(fresh.__dict__)

    def running_delta(self, delta: int) -> None:
        self.running += delta
        self.peak_running = max(self.peak_running, self.running)
