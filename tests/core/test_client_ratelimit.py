"""The process-wide rate governor: pure logic with a fake clock."""

from __future__ import annotations

import threading

import pytest
from client_flowkit import FakeClock

from lamina_jupyter.core.ratelimit import RateGovernor, governor_for


def test_fixed_budget_spaces_requests():
    clock = FakeClock()
    gov = RateGovernor(per_minute=60, clock=clock)
    assert [gov.reserve() for _ in range(3)] == [0.0, 1.0, 2.0]
    assert gov.waiting_seconds() == 3.0


def test_429_hint_pauses_everyone():
    clock = FakeClock()
    gov = RateGovernor(clock=clock)
    gov.observe(429, {}, retry_after=7)
    assert gov.reserve() == 7 and gov.state()["paused_for"] == 7
    clock.now += 7
    assert gov.reserve() == 0


def test_low_remaining_budget_is_spread_over_the_reset_window_before_any_429():
    clock = FakeClock()
    gov = RateGovernor(clock=clock)
    gov.observe(200, {"RateLimit-Limit": "100", "RateLimit-Remaining": "80", "RateLimit-Reset": "30"})
    assert [gov.reserve() for _ in range(3)] == [0, 0, 0]
    gov.observe(200, {"RateLimit-Limit": "100", "RateLimit-Remaining": "10", "RateLimit-Reset": "20"})
    assert gov.reserve() == 0 and gov.reserve() == pytest.approx(2.0)
    gov.observe(200, {"RateLimit-Limit": "100", "RateLimit-Remaining": "0", "RateLimit-Reset": "12"})
    assert gov.waiting_seconds() == pytest.approx(12)


def test_spacing_expires_with_the_window_and_bad_headers_are_ignored():
    clock = FakeClock()
    gov = RateGovernor(clock=clock)
    gov.observe(200, {"RateLimit-Remaining": "5", "RateLimit-Reset": "10"})
    gov.reserve()
    clock.now += 11
    gov.observe(200, {"RateLimit-Remaining": "nan?", "RateLimit-Reset": "x"})
    assert gov.reserve() == 0 and gov.reserve() == 0


def test_reservations_from_many_threads_never_share_a_slot():
    clock = FakeClock()
    gov = RateGovernor(per_minute=600, clock=clock)
    waits: list[float] = []
    lock = threading.Lock()

    def worker():
        for _ in range(50):
            w = gov.reserve()
            with lock:
                waits.append(w)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits) == pytest.approx([i * 0.1 for i in range(400)])


def test_one_governor_per_server_origin():
    assert governor_for("http://127.0.0.1:1/x") is governor_for("http://127.0.0.1:1")
    assert governor_for("http://127.0.0.1:1") is not governor_for("http://127.0.0.1:2")
