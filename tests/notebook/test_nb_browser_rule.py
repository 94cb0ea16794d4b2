"""When the real-browser test runs, skips or fails, decided without launching a browser: a machine
without Chromium skips saying why and how to fix it; CI never skips it."""

from __future__ import annotations

import sys

import pytest
from test_nb_browser import chromium_verdict

MISSING = "/nonexistent/chromium"


@pytest.mark.parametrize("ci", [None, "", "0", "false", "False", "no"])
def test_no_chromium_outside_ci_skips_saying_how_to_fix_it(ci):
    env = {} if ci is None else {"CI": ci}
    action, why = chromium_verdict(MISSING, env)
    assert action == "skip"
    assert MISSING in why and "make browser" in why and "apt-get install -y chromium" in why


@pytest.mark.parametrize("ci", ["true", "1", "yes", "github-actions"])
def test_no_chromium_in_ci_fails_instead_of_skipping(ci):
    action, why = chromium_verdict(MISSING, {"CI": ci})
    assert action == "fail" and "CI" in why and MISSING in why and "make browser" in why


def test_a_file_that_cannot_be_executed_is_no_chromium(tmp_path):
    fake = tmp_path / "chromium"
    fake.write_text("not a browser")
    assert chromium_verdict(str(fake), {"CI": "true"})[0] == "fail"
    assert chromium_verdict(str(tmp_path), {})[0] == "skip"  # a directory neither


@pytest.mark.parametrize("ci", [None, "true"])
def test_an_executable_chromium_runs_the_test(ci):
    assert chromium_verdict(sys.executable, {} if ci is None else {"CI": ci}) is None
