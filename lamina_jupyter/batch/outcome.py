"""What a fan-out row ended as, the batch report, and the helpers that key and describe rows."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from ..core.models import Run
from .ledger import Produced, fingerprint, produced, row_key


@dataclass(slots=True)
class Outcome:
    """What a row ended as, as the engine hands it over; the batch keeps its fields column by column
    (outcome_store.py), so an Outcome lives only as long as that hand-over."""

    status: str  # completed failed cancelled error uncertain unknown pending queued running
    run_id: str | None = None
    outputs: tuple[Produced, ...] | None = None
    error: str | None = None
    seconds: float | None = None
    created_at: str | None = None  # the run's times, for the download manifest (lineage.py)
    completed_at: str | None = None


@dataclass
class Report:
    reused: int = 0
    reattached: int = 0
    reconciled: int = 0
    submitted: int = 0
    uncertain: int = 0
    unknown: int = 0
    interrupted: bool = False
    in_flight: int = 0
    cancelled: int = 0  # of the runs in flight at an interrupt, those cancel_in_flight cancelled
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in (
                "reused",
                "reattached",
                "reconciled",
                "submitted",
                "uncertain",
                "unknown",
                "interrupted",
                "in_flight",
                "cancelled",
            )
        }

    def summary(self) -> str:
        text = (
            f"{self.submitted} newly submitted, {self.reused} reused from the ledger, {self.reattached} "
            f"re-attached, {self.reconciled} reconciled"
        )
        if self.uncertain:
            text += (
                f", {self.uncertain} UNCERTAIN (a run may have started and nothing proves which: the "
                "candidate is in lamina_run_id, the reason in lamina_error; retry_failed() starts them "
                "again, retry_failed(adopt=True) follows the candidate)"
            )
        if self.unknown:
            text += f", {self.unknown} UNKNOWN (could not tell whether they started; see lamina_error)"
        kept = self.in_flight - self.cancelled
        if self.interrupted and self.cancelled:
            text += f"; INTERRUPTED: {self.cancelled} run(s) in flight were cancelled"
            text += f", {kept} could not be (run the same call again to re-attach)" if kept else ""
        elif self.interrupted:
            text += (
                f"; INTERRUPTED with {self.in_flight} run(s) in flight (kept in the ledger: run the "
                "same call again to re-attach)"
            )
        return text


def origin_of(base_url: str) -> str:
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def assign_keys(origin: str, app_id: str, planned: list[Any]) -> list[str]:
    """Row keys for the whole frame (repeat labels with equal inputs get ordinals 0, 1, ...). Repeats
    are counted by their first key, which is the key of every row that is not a repeat: no second
    string per row."""
    seen: dict[str, int] = {}
    keys = []
    for row in planned:
        fp = fingerprint(app_id, row.payload)
        first = row_key(origin, fp, row.label, 0)
        ordinal = seen.get(first, 0)
        seen[first] = ordinal + 1
        keys.append(first if ordinal == 0 else row_key(origin, fp, row.label, ordinal))
    return keys


def outputs_of(run: Run) -> tuple[Produced, ...]:
    """What a row keeps of a finished run: its outputs' values and descriptions, not the run body."""
    return tuple(produced(o.label, o.value, o.status, o.error, o.type, o.mime_type) for o in run.outputs)


def run_seconds(run: Run, t0: float | None) -> float | None:
    if run.created_at and run.completed_at:
        return round((run.completed_at - run.created_at).total_seconds(), 3)
    return round(time.time() - t0, 3) if t0 else None


def iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
