"""The fault matrix's own figures can show a failure: a small matrix (this directory's real conftest
beside a handful of scenarios, one of them broken) runs in a subprocess through bench/reliability.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parents[1] / "bench" / "reliability.py"

SCENARIOS = textwrap.dedent("""
    import pytest

    def test_survives(scenario):
        scenario.add(faults_injected=2, ordinary_events=1, rows_submitted=3, rows_completed=3)

    def test_breaks(scenario):
        scenario.add(faults_injected=1, faults_survived=1, rows_submitted=1)  # an old-style claim
        assert False, "the client gave up"

    def test_claims_fewer(scenario):
        scenario.add(faults_injected=4, faults_survived=3)

    def test_without_the_fixture():
        pass

    @pytest.fixture
    def broken_setup():
        raise RuntimeError("the emulator did not start")

    def test_setup_fails(broken_setup, scenario):
        pass

    def test_skipped(scenario):
        pytest.skip("not on this machine")
""")


# Like tests/conftest.py's canary check: a wrapper further out fails a phase after the test passed.
OUTER_VERDICT = textwrap.dedent("""
    import pytest

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(item, call):
        outcome = yield
        report = outcome.get_result()
        if any("LEAKED" in text for _, text in report.sections):
            report.outcome = "failed"
""")


def run_matrix(tmp_path: Path, tests: str) -> tuple[int, str, dict]:
    matrix = tmp_path / "tests"  # laid out like the suite: tests/conftest.py, tests/reliability/
    (matrix / "reliability").mkdir(parents=True)
    (matrix / "conftest.py").write_text(OUTER_VERDICT)
    shutil.copy(HERE / "conftest.py", matrix / "reliability" / "conftest.py")
    (matrix / "reliability" / "test_scenarios.py").write_text(tests)
    env = {**os.environ, "LAMINA_BENCH_OUTPUT": str(tmp_path / "out")}
    done = subprocess.run([sys.executable, str(BENCH), str(matrix)], env=env, capture_output=True,
                          text=True, timeout=120)
    report = json.loads((tmp_path / "out" / "reliability.json").read_text())
    return done.returncode, done.stdout, report


def test_a_broken_scenario_lowers_the_line_and_fails_the_bench(tmp_path, scenario):
    code, out, report = run_matrix(tmp_path, SCENARIOS)
    line = out.splitlines()[0]
    assert line.startswith("reliability: 3/5 scenarios survived (NOT SURVIVED: test_breaks, "
                           "test_setup_fails), 1 skipped · "), line
    # survived counts only the passing scenarios, and an explicit lower claim lowers it further
    assert "faults injected 7, survived 5 · ordinary events 1 · rows 3/4 done" in line
    assert code == 1 and "not survived: test_breaks" in out
    assert report["misses"] == ["2 scenario(s) did not survive", "2 fault(s) not survived"]
    outcomes = {r["scenario"]: r["outcome"] for r in report["scenarios"]}
    assert outcomes["test_without_the_fixture"] == "passed"  # every test is a scenario
    assert outcomes["test_skipped"] == "skipped"


def test_a_scenario_failed_after_its_call_by_the_canary_check_did_not_survive(tmp_path, scenario):
    leaky = "def test_leaks(scenario):\n    scenario.add(faults_injected=1)\n    print('LEAKED')\n"
    code, out, report = run_matrix(tmp_path, leaky)
    assert code == 1 and out.startswith("reliability: 0/1 scenarios survived (NOT SURVIVED: test_leaks)")


def test_a_clean_matrix_exits_zero_and_a_nonzero_counter_does_not(tmp_path, scenario):
    clean = "def test_ok(scenario):\n    scenario.add(faults_injected=1)\n"
    code, out, report = run_matrix(tmp_path, clean)
    assert code == 0 and out.startswith("reliability: 1/1 scenarios survived · faults injected 1, survived 1")
    leak = "def test_ok(scenario):\n    scenario.add(key_leaks=1)\n"
    code, out, report = run_matrix(tmp_path / "again", leak)
    assert code == 1 and report["misses"] == ["key_leaks = 1"] and "miss: key_leaks = 1" in out
