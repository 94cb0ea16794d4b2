"""Shared fixtures: a clean environment per test and one real emulator on loopback per session.

Every test talks to the emulator over real HTTP. Tests that inject faults or change the emulator's
configuration use the function-scoped `emulator` fixture, which restores the defaults afterwards.
"""

from __future__ import annotations

import os

import pytest

from lamina_jupyter.emulator import Emulator

# Latency low enough for a fast suite, high enough that runs really pass through queued and running.
FAST = dict(latency=0.15, jitter=0.0, failure_rate=0.0, rate_limit=None, time_factor=1.0)


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
    with Emulator(**FAST) as emu:
        yield emu


@pytest.fixture
def emulator(emulator_session):
    """The session emulator, with faults cleared and the fast defaults restored after the test."""
    yield emulator_session
    emulator_session.clear_faults()
    emulator_session.configure(**FAST)


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
