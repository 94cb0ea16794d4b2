"""The fault matrix's bookkeeping: every scenario records what it injected and what it proved, and the
session ends with one summary line a person can quote (bench/reliability.py prints it as well).

A test takes the `scenario` fixture and adds to its counters, e.g.
`scenario.add(faults_injected=3, faults_survived=3, rows_submitted=20, rows_completed=20)`.
A scenario counts as survived only when its test passed. Counters that must stay zero
(rows_lost, paid_twice, key_leaks, replays_processed_twice, unexpected_exceptions) are summed as well,
so a bug surfaces in the figure even if an assertion were ever loosened.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field

import pytest

REPORT_ENV = "LAMINA_RELIABILITY_REPORT"
COUNTERS = (
    "faults_injected", "faults_survived", "rows_submitted", "rows_completed", "rows_lost", "paid_twice",
    "key_leaks", "surfaces_scanned", "forged_tried", "forged_rejected", "valid_sent", "valid_accepted",
    "replays_processed_twice", "fuzz_examples", "unexpected_exceptions",
)


@dataclass
class Scenario:
    name: str
    counts: Counter = field(default_factory=Counter)

    def add(self, **amounts: int) -> None:
        unknown = set(amounts) - set(COUNTERS)
        if unknown:
            raise TypeError(f"unknown reliability counters {sorted(unknown)}; known: {COUNTERS}")
        self.counts.update(amounts)


_results: list[dict] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item._lamina_passed = report.passed


@pytest.fixture
def scenario(request):
    """Counters for one fault-matrix scenario (one per parametrised variant)."""
    sc = Scenario(request.node.nodeid.split("::", 1)[-1])
    yield sc
    passed = getattr(request.node, "_lamina_passed", False)
    _results.append({"scenario": sc.name, "passed": passed, **{k: sc.counts[k] for k in COUNTERS}})


def summary(results: list[dict]) -> str:
    """One line: scenarios survived, faults, rows lost, paid twice, leaks, forged webhooks rejected."""
    total = Counter()
    for r in results:
        total.update({k: r[k] for k in COUNTERS})
    survived = sum(r["passed"] for r in results)
    return (
        f"reliability: {survived}/{len(results)} scenarios survived · "
        f"faults injected {total['faults_injected']}, survived {total['faults_survived']} · "
        f"rows {total['rows_completed']}/{total['rows_submitted']} done, lost {total['rows_lost']} · "
        f"runs paid twice {total['paid_twice']} · key leaks {total['key_leaks']} "
        f"({total['surfaces_scanned']} surfaces scanned) · "
        f"forged webhooks rejected {total['forged_rejected']}/{total['forged_tried']} · "
        f"valid accepted {total['valid_accepted']}/{total['valid_sent']} · "
        f"replays processed twice {total['replays_processed_twice']} · "
        f"fuzz examples {total['fuzz_examples']}, unexpected exceptions {total['unexpected_exceptions']}"
    )


def pytest_terminal_summary(terminalreporter):
    if not _results:
        return
    terminalreporter.write_sep("=", "fault matrix")
    terminalreporter.write_line(summary(_results))
    path = os.environ.get(REPORT_ENV)
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"summary": summary(_results), "scenarios": _results}, f, indent=1)
