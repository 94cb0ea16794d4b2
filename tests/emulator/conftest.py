"""Raw-HTTP fixtures for the emulator's own tests (no lamina_jupyter client involved)."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture
def http(emulator):
    """An httpx client authenticated against the shared emulator."""
    with httpx.Client(base_url=emulator.base_url, headers={"x-api-key": emulator.api_key}, timeout=10) as c:
        yield c


@pytest.fixture
def anon(emulator):
    """An httpx client without any key."""
    with httpx.Client(base_url=emulator.base_url, timeout=10) as c:
        yield c


@pytest.fixture(autouse=True)
def leave_no_live_runs(emulator_session):
    """Release `hold` (the shared fixture does not restore it) and cancel runs a test left queued or
    running (e.g. #stuck), so later tests' running/peak_running counts start from zero."""
    yield
    emulator_session.clear_faults()
    emulator_session.configure(hold=False, time_factor=1.0)
    live = [r["run_id"] for r in emulator_session.runs() if r["status"] in ("queued", "running")]
    if live:
        headers = {"x-api-key": emulator_session.api_key}
        with httpx.Client(base_url=emulator_session.base_url, headers=headers, timeout=10) as c:
            for run_id in live:
                c.post(f"/v1/runs/{run_id}/cancel")
