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
