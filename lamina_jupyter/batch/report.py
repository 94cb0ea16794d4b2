"""What `run_dataframe(..., dry_run=True)` returns: the plan, every problem, and what it would cost."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from ..core.models import App
from .budget import budget_lines
from .mapping import ColumnMap


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


@dataclass
class DryRunReport:
    """Nothing was sent except reading the app and its credit estimate."""

    app: App
    cmap: ColumnMap
    planned: list[Any]
    problems: list[dict[str, Any]]
    rows: int
    reuse: int
    attach: int
    to_submit: int
    credits_per_run: float | None
    credit_note: str
    per_run: float
    per_run_measured: bool
    wall_seconds: float
    requests: int
    concurrency: int
    notes: list[str] = field(default_factory=list)
    uncertain: int = 0  # rows the ledger holds as uncertain: a rerun keeps them, retry_failed settles them
    balance: float | None = None
    max_credits: float | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def payloads(self) -> list[dict[str, Any]]:
        """The resolved inputs of each valid row, as client.start would receive them."""
        return [{"row": r.position, "index": r.label, "inputs": r.inputs} for r in self.planned]

    @property
    def unmatched(self) -> list[str]:
        return list(self.cmap.unmatched)

    @property
    def estimated_credits(self) -> float | None:
        return None if self.credits_per_run is None else self.credits_per_run * self.to_submit

    def lines(self) -> list[str]:
        out = [f"Dry run of {self.app.name!r} over {self.rows} row(s): nothing was started."]
        out += ["Mapping:"] + [f"  {line}" for line in self.cmap.describe()]
        if self.problems:
            out.append(f"{len(self.problems)} problem(s) in {len({p['row'] for p in self.problems})} row(s):")
            out += [
                f"  row {p['row']} (index {p['index']!r})"
                + (f", column {p['column']!r}" if p.get("column") else "")
                + f": {p['message']}"
                for p in self.problems
            ]
        else:
            out.append(f"All {self.rows} row(s) are valid.")
        held = f"{self.uncertain} uncertain (kept: retry_failed() settles them), " if self.uncertain else ""
        out.append(
            f"Ledger: {self.reuse} row(s) reused, {self.attach} re-attached, {held}"
            f"{self.to_submit} to submit."
        )
        if self.estimated_credits is not None:
            out.append(
                f"Credits: about {self.estimated_credits:g} ({self.credits_per_run:g} per run × "
                f"{self.to_submit})."
            )
        else:
            out.append(f"Credits: {self.credit_note or 'unknown'}.")
        out += budget_lines(self.estimated_credits, self.balance, self.credits_per_run, self.max_credits,
                            self.to_submit)
        basis = (
            "median of earlier runs in the ledger" if self.per_run_measured else "assumed (no history yet)"
        )
        out.append(
            f"Wall time: about {_minutes(self.wall_seconds)} ({self.per_run:.0f} s per run, {basis}; "
            f"concurrency {self.concurrency}; {self.requests} requests at ~100/min)."
        )
        return out + self.notes

    def __repr__(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        return "<pre style='white-space:pre-wrap'>" + html.escape("\n".join(self.lines())) + "</pre>"
