"""Shared fixtures: a clean environment per test and one real emulator on loopback per session.

Every test talks to the emulator over real HTTP. Tests that inject faults or change the emulator's
configuration use the function-scoped `emulator` fixture, which restores the defaults afterwards.

The session emulator's key is a canary (`CANARY_KEY`): any test whose captured stdout, stderr, log
or failure report contains it fails, so the whole suite doubles as a secret-hygiene check.
"""

from __future__ import annotations

import os
import secrets

import httpx
import pytest

from lamina_jupyter.core.ratelimit import governor_for
from lamina_jupyter.emulator import Emulator

# Latency low enough for a fast suite, high enough that runs really pass through queued and running;
# /wait and /stream check runs every 50 ms instead of the documented 2 s (tests/emulator/
# test_emulator_check_interval.py studies that).
FAST = dict(latency=0.15, jitter=0.0, failure_rate=0.0, rate_limit=None, time_factor=1.0,
            rate_limit_headers="on-429", rate_limit_window="sliding", check_interval=0.05)
CANARY_KEY = "lma_CANARY_" + secrets.token_hex(10)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Fail the phase whose captured output or failure text shows the canary key."""
    outcome = yield
    report = outcome.get_result()
    texts = [content for _, content in report.sections]
    if report.longrepr is not None:
        texts.append(str(report.longrepr))
    if any(CANARY_KEY in text for text in texts):
        report.outcome = "failed"
        report.longrepr = f"the API key leaked into this test's captured output ({report.when} phase)"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No LAMINA_* variable, no ~/.lamina and no .env from the developer's machine leaks into a test."""
    for name in list(os.environ):
        if name.startswith("LAMINA_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def emulator_session():
    with Emulator(api_key=CANARY_KEY, **FAST) as emu:
        yield emu


@pytest.fixture
def emulator(emulator_session):
    """The session emulator; afterwards faults are cleared, the fast defaults restored and runs the
    test left queued or running (e.g. #stuck) cancelled, so later tests' counts start from zero."""
    yield emulator_session
    emulator_session.clear_faults()
    emulator_session.configure(hold=False, **FAST)
    # a limit a batch learned from the test's settings must not pace the tests after it
    governor_for(emulator_session.base_url).learn_limit(None, None)
    emulator_session.restore_apps()
    live = [r["run_id"] for r in emulator_session.runs() if r["status"] in ("queued", "running")]
    if live:
        headers = {"Authorization": f"Bearer {emulator_session.api_key}"}
        with httpx.Client(base_url=emulator_session.base_url, headers=headers, timeout=10) as c:
            for run_id in live:
                c.post(f"/v1/runs/{run_id}/cancel")


@pytest.fixture
def client(emulator):
    from lamina_jupyter import Client

    with Client(api_key=emulator.api_key, base_url=emulator.base_url) as c:
        yield c


@pytest.fixture
async def async_client(emulator):
    from lamina_jupyter import AsyncClient

    async with AsyncClient(api_key=emulator.api_key, base_url=emulator.base_url) as c:
        yield c


@pytest.fixture
def anyio_backend():
    """Async tests use anyio's pytest plugin (`@pytest.mark.anyio`), which ships with httpx's anyio."""
    return "asyncio"
