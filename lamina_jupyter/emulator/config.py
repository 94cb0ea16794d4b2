"""Mutable emulator settings and counters shared by every module (one instance per Emulator)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Settings:
    """Knobs changed through `Emulator.configure`; time_factor scales every documented API constant
    (rate window, Retry-After, webhook backoff, SSE ping and cap) but not run latency."""

    latency: float = 2.0
    jitter: float = 0.2
    failure_rate: float = 0.0
    rate_limit: int | None = 100
    time_factor: float = 1.0
    hold: bool = False

    def update(self, **changes: Any) -> None:
        for name, value in changes.items():
            if not hasattr(self, name):
                raise TypeError(
                    f"configure() got an unknown setting {name!r}; known: {', '.join(self.as_dict())}"
                )
            setattr(self, name, value)
        self.validate()

    def validate(self) -> None:
        if self.latency < 0 or self.jitter < 0 or self.time_factor <= 0:
            raise ValueError("latency and jitter must be >= 0 and time_factor > 0")
        if not 0 <= self.failure_rate <= 1:
            raise ValueError("failure_rate must be between 0 and 1")
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ValueError("rate_limit must be a positive integer or None (no limit)")

    def as_dict(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in ("latency", "jitter", "failure_rate", "rate_limit", "time_factor", "hold")
        }


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
