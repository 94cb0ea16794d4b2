"""A machine booted moments ago: the monotonic clock is near 0, so 0.0 must never stand for "not yet"
(issue 11 part 4; TextView.last was the first case found). The clock is scripted, nothing else is faked."""

from __future__ import annotations

import types

import anyio
import pytest

from lamina_jupyter.batch import reconcile
from lamina_jupyter.core.errors import TransportError


@pytest.mark.parametrize("boot", [0.0, 1e6])  # right after boot, and a machine up for 11 days
def test_outage_patience_counts_from_the_first_failure_even_at_clock_zero(boot, monkeypatch):
    """The first failure at monotonic 0.0 must start the patience window, not be forgotten."""
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        assert calls <= 2, "still retrying after the patience ran out"
        raise TransportError("connection refused")

    async def no_sleep(_: float) -> None:
        return None

    later = boot + reconcile.OUTAGE_PATIENCE + 1
    clock = types.SimpleNamespace(monotonic=lambda: boot if calls < 2 else later)
    monkeypatch.setattr(reconcile, "time", clock)
    monkeypatch.setattr(reconcile, "asyncio", types.SimpleNamespace(sleep=no_sleep))
    with pytest.raises(TransportError):
        anyio.run(reconcile.Reconciling()._retrying, down)
    assert calls == 2  # gave up at the second failure, OUTAGE_PATIENCE + 1 s after the first
