"""The fault matrix's bookkeeping: every test in this directory is a scenario, and the session ends with
one summary line a person can quote (bench/reliability.py prints it as well and exits non-zero on a miss).

A scenario is recorded when its test starts, so one that fails or crashes is still counted (and named).
Survival is observed, not claimed: a scenario survived only when every phase of its test passed, and
only then do its injected faults count as survived. A test says what it injected and saw through the
`scenario` fixture, BEFORE its checks (an assert that fails first would lose the figures), e.g.
`scenario.add(faults_injected=3, rows_submitted=20, rows_completed=20)`.
- `faults_injected`: things that go wrong on the wire or server (resets, 5xx, stalls, a killed kernel).
- `ordinary_events`: what a working service does every day (a `/wait` answering `timeout: true`, a
  `#fail` run, a user's cancel, a row refused before sending); counted apart, never as faults.
- `faults_survived=` is still accepted from older calls; it can only lower the figure.
Counters that must stay zero (rows_lost, paid_twice, key_leaks, replays_processed_twice,
unexpected_exceptions) are summed as well, so a bug surfaces in the figure even if an assertion were
ever loosened.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field

import pytest

REPORT_ENV = "LAMINA_RELIABILITY_REPORT"
COUNTERS = (
    "faults_injected", "faults_survived", "ordinary_events", "rows_submitted", "rows_completed", "rows_lost",
    "paid_twice", "key_leaks", "surfaces_scanned", "forged_tried", "forged_rejected", "valid_sent",
    "valid_accepted", "replays_processed_twice", "fuzz_examples", "unexpected_exceptions",
)
MUST_BE_ZERO = ("rows_lost", "paid_twice", "key_leaks", "replays_processed_twice", "unexpected_exceptions")
NAMED_IN_LINE = 3  # failing scenarios named in the summary line; the JSON lists them all


@dataclass
class Scenario:
    name: str
    counts: Counter = field(default_factory=Counter)
    outcome: str = "running"  # → passed | failed | skipped; still "running" if the session was cut short

    def add(self, **amounts: int) -> None:
        unknown = set(amounts) - set(COUNTERS)
        if unknown:
            raise TypeError(f"unknown reliability counters {sorted(unknown)}; known: {COUNTERS}")
        self.counts.update(amounts)

    def observe(self, report: pytest.TestReport) -> None:
        """Fold one phase's report in: any failed phase (teardown included) fails the scenario."""
        if report.failed:
            self.outcome = "failed"
        elif report.skipped and self.outcome == "running":
            self.outcome = "skipped"
        elif report.when == "call" and self.outcome == "running":
            self.outcome = "passed"

    def record(self) -> dict:
        counts = {k: self.counts[k] for k in COUNTERS}
        injected = counts["faults_injected"]
        claimed = min(counts["faults_survived"], injected) if "faults_survived" in self.counts else injected
        counts["faults_survived"] = claimed if self.outcome == "passed" else 0
        return {"scenario": self.name, "outcome": self.outcome, "passed": self.outcome == "passed", **counts}


_scenarios: dict[str, Scenario] = {}  # by node id, in the order the tests started


def _entry(item: pytest.Item) -> Scenario:
    return _scenarios.setdefault(item.nodeid, Scenario(item.nodeid.split("::", 1)[-1]))


def pytest_runtest_setup(item):
    _entry(item)  # recorded before any fixture or check can fail


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _entry(item).observe(outcome.get_result())  # outermost wrapper: sees the canary check's verdict


@pytest.fixture
def scenario(request) -> Scenario:
    """Counters for one fault-matrix scenario (one per parametrised variant)."""
    return _entry(request.node)


def tally(results: list[dict]) -> dict:
    """Totals, the scenarios that did not survive, and every figure that shows a miss."""
    counted = [r for r in results if r["outcome"] != "skipped"]
    total = Counter()
    for r in counted:
        total.update({k: r[k] for k in COUNTERS})
    lost = [r["scenario"] for r in counted if not r["passed"]]
    misses = [f"{len(lost)} scenario(s) did not survive"] if lost else []
    if total["faults_survived"] < total["faults_injected"]:
        misses.append(f"{total['faults_injected'] - total['faults_survived']} fault(s) not survived")
    misses += [f"{k} = {total[k]}" for k in MUST_BE_ZERO if total[k]]
    for tried, ok in (("forged_tried", "forged_rejected"), ("valid_sent", "valid_accepted")):
        if total[ok] < total[tried]:
            misses.append(f"{ok} {total[ok]}/{total[tried]}")
    skipped = len(results) - len(counted)
    return {"totals": total, "counted": len(counted), "skipped": skipped, "not_survived": lost,
            "misses": misses}


def summary(results: list[dict]) -> str:
    """One line: scenarios survived (naming the ones that did not), faults, ordinary events, rows lost,
    paid twice, leaks, forged webhooks rejected."""
    t = tally(results)
    total, lost = t["totals"], t["not_survived"]
    more = len(lost) - NAMED_IN_LINE
    named = ", ".join(lost[:NAMED_IN_LINE]) + (f" and {more} more" if more > 0 else "")
    return (
        f"reliability: {t['counted'] - len(lost)}/{t['counted']} scenarios survived"
        + (f" (NOT SURVIVED: {named})" if lost else "")
        + (f", {t['skipped']} skipped" if t["skipped"] else "")
        + f" · faults injected {total['faults_injected']}, survived {total['faults_survived']} · "
        f"ordinary events {total['ordinary_events']} · "
        f"rows {total['rows_completed']}/{total['rows_submitted']} done, lost {total['rows_lost']} · "
        f"runs paid twice {total['paid_twice']} · key leaks {total['key_leaks']} "
        f"({total['surfaces_scanned']} surfaces scanned) · "
        f"forged webhooks rejected {total['forged_rejected']}/{total['forged_tried']} · "
        f"valid accepted {total['valid_accepted']}/{total['valid_sent']} · "
        f"replays processed twice {total['replays_processed_twice']} · "
        f"fuzz examples {total['fuzz_examples']}, unexpected exceptions {total['unexpected_exceptions']}"
    )


def pytest_terminal_summary(terminalreporter):
    if not _scenarios:
        return
    results = [s.record() for s in _scenarios.values()]
    terminalreporter.write_sep("=", "fault matrix")
    terminalreporter.write_line(summary(results))
    path = os.environ.get(REPORT_ENV)
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"summary": summary(results), **tally(results), "scenarios": results}, f, indent=1)
