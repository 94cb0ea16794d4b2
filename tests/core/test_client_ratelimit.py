"""The process-wide rate governor: pure logic with a fake clock, then real clients against the
emulator's per-IP limit in both header modes."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from client_flowkit import FakeClock

from lamina_jupyter.core.protocol import Sleep
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


# -- through a real Client against the emulator's per-IP limit -------------------------------------
LIMIT, TIME_FACTOR = 10, 0.02  # 10 requests per 1.2 s window
THREADS, CALLS = 4, 4  # 16 requests: more than one window holds


def _paced_calls(emulator, governor: RateGovernor, threads: int, calls: int) -> float:
    """`threads` clients sharing one governor (as every client of a process does) each list runs
    `calls` times; returns the seconds it took. Every call must succeed."""
    from lamina_jupyter import Client

    errors: list[BaseException] = []

    def worker() -> None:
        with Client(api_key=emulator.api_key, base_url=emulator.base_url, governor=governor) as c:
            for _ in range(calls):
                try:
                    c.list_runs(limit=1)
                except BaseException as exc:  # reported below
                    errors.append(exc)

    began = time.monotonic()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(60)
    assert not errors, errors[:3]
    return time.monotonic() - began


def test_headers_on_every_response_pace_the_client_without_a_429(emulator):
    emulator.configure(rate_limit=LIMIT, time_factor=TIME_FACTOR, rate_limit_headers="always")
    emulator.reset_stats()
    took = _paced_calls(emulator, RateGovernor(), THREADS, CALLS)
    assert emulator.stats["rate_limited"] == 0
    assert took >= 60 * TIME_FACTOR  # the requests really spanned two windows


def test_a_budget_paces_the_client_without_a_429_when_only_429s_carry_headers(emulator):
    """The documented server says nothing until the 429; a budget a little under the limit is the pacing."""
    emulator.configure(rate_limit=LIMIT, time_factor=TIME_FACTOR)
    emulator.reset_stats()
    budget = 0.9 * LIMIT / TIME_FACTOR  # requests per real minute
    took = _paced_calls(emulator, RateGovernor(per_minute=budget), THREADS, CALLS)
    assert emulator.stats["rate_limited"] == 0
    assert took >= 60 * TIME_FACTOR


def test_without_a_budget_a_429_pauses_the_client_until_the_window_resets(emulator):
    """No headers before the 429 and no budget: the first 429 of a window stops everyone until its
    reset, so a sequential caller sees at most one per window and no call fails."""
    emulator.configure(rate_limit=LIMIT, time_factor=TIME_FACTOR)
    emulator.reset_stats()
    took = _paced_calls(emulator, RateGovernor(), 1, THREADS * CALLS)
    windows = took / (60 * TIME_FACTOR) + 1
    assert 1 <= emulator.stats["rate_limited"] <= windows


def test_another_key_on_the_same_ip_spends_our_budget_and_no_call_fails(emulator):
    """A teammate's script (its own key, another process, so not our governor) shares the IP's
    budget: our paced client meets 429s it could not foresee, waits them out, and every call succeeds."""
    emulator.configure(rate_limit=LIMIT, time_factor=TIME_FACTOR, rate_limit_headers="always")
    emulator.reset_stats()
    stop = threading.Event()
    spent: list[int] = []

    def teammate() -> None:
        with httpx.Client(base_url=emulator.base_url, headers={"x-api-key": "lma_teammate"}) as other:
            while not stop.is_set():
                spent.append(other.get("/v1/apps").status_code)
                stop.wait(0.3)  # about a third of the budget

    noisy = threading.Thread(target=teammate)
    noisy.start()
    try:
        _paced_calls(emulator, RateGovernor(), 2, CALLS)
    finally:
        stop.set()
        noisy.join(5)
    assert len(spent) >= 3  # the teammate kept spending while we worked


# -- a known limit: window/limit apart, and never more than the limit in any window ---------------
def test_a_declared_limit_keeps_every_window_under_it_with_a_margin():
    clock = FakeClock()
    gov = RateGovernor(clock=clock)
    gov.learn_limit(10, 6.0)
    booked = []
    for _ in range(35):
        wait = gov.reserve()
        booked.append(clock.now + wait)
        clock.now += wait * 0.5  # callers wake late or early: the log, not the caller, keeps the rule
    assert booked[1] - booked[0] == pytest.approx(0.6)
    assert min(b - a for a, b in zip(booked, booked[10:], strict=False)) >= 6.0 * 1.02 - 1e-9
    assert gov.state()["limit"] == 10


def test_a_user_budget_wins_over_the_declared_limit_and_none_forgets_it():
    gov = RateGovernor(per_minute=30, clock=FakeClock())
    gov.learn_limit(100, 60.0)
    assert gov.state()["interval"] == pytest.approx(2.0)
    gov.set_budget(None)
    assert gov.state()["interval"] == pytest.approx(0.6)
    gov.learn_limit(None, None)  # an unlimited server
    assert gov.state()["interval"] == 0 and gov.state()["limit"] is None


def test_alone_on_the_ip_the_log_paces_and_whole_second_resets_do_not_stall():
    """Headers on every response, nobody else on the IP: the server's Remaining matches our own log,
    so a Reset rounded up to whole seconds does not pause us beyond the log's own wait."""
    clock = FakeClock()
    gov = RateGovernor(clock=clock)
    gov.learn_limit(10, 6.0)
    for _ in range(10):
        clock.now += gov.reserve()
    gov.observe(200, {"RateLimit-Limit": "10", "RateLimit-Remaining": "0", "RateLimit-Reset": "1"})
    assert gov.reserve() == pytest.approx(6.12 - 5.4)  # the log's wait, not Reset's full second


def test_someone_else_on_the_ip_brings_the_header_rules_back():
    clock = FakeClock()
    gov = RateGovernor(clock=clock)
    gov.learn_limit(100, 60.0)
    for _ in range(5):
        clock.now += gov.reserve()
    gov.observe(200, {"RateLimit-Limit": "100", "RateLimit-Remaining": "10", "RateLimit-Reset": "20"})
    assert gov.state()["interval"] == pytest.approx(2.0)  # 95 expected left: another client spent 85
    gov.observe(200, {"RateLimit-Limit": "100", "RateLimit-Remaining": "0", "RateLimit-Reset": "12"})
    assert gov.waiting_seconds() == pytest.approx(12)


def test_bookings_queued_for_later_do_not_hide_the_ones_the_server_still_counts():
    """Ten callers book ahead at once: the past window still holds all 10 sent requests, so a
    Remaining of 0 from the server is our own doing and the log, not a rounded Reset, paces us."""
    clock = FakeClock()
    gov = RateGovernor(clock=clock)
    gov.learn_limit(10, 6.0)
    for _ in range(10):
        clock.now += gov.reserve()
    ahead = [gov.reserve() for _ in range(5)]  # booked now, sent later
    gov.observe(200, {"RateLimit-Limit": "10", "RateLimit-Remaining": "0", "RateLimit-Reset": "1"})
    assert gov.state()["paused_for"] == 0 and ahead[0] == pytest.approx(6.12 - 5.4)


def test_a_429_despite_the_log_widens_the_margin_until_a_clean_window_passes():
    """Arrivals jittered past the 2 % margin (a busy machine) or someone shares the IP: after a 429
    the log keeps 4 % of a window, then 2 % again once a window went by without one."""
    clock = FakeClock()
    gov = RateGovernor(clock=clock)
    gov.learn_limit(10, 6.0)
    for _ in range(10):
        clock.now += gov.reserve()
    first = clock.now - 5.4
    gov.observe(429, {}, retry_after=0.5)
    assert clock.now + gov.reserve() == pytest.approx(first + 6.0 * 1.04)
    clock.now += 13.0  # more than a window without a 429
    booked = []
    for _ in range(11):
        wait = gov.reserve()
        booked.append(clock.now + wait)
        clock.now += wait
    assert booked[10] - booked[0] == pytest.approx(6.0 * 1.02)


@pytest.mark.parametrize("declared", [
    {"limit": 1, "windowMs": 10 ** 12},  # one request per 31 years would stall every client
    {"limit": 10 ** 9, "windowMs": 60000},  # a log that never trims
    {"limit": 0, "windowMs": 60000},
    {"limit": 100, "windowMs": -5},
])
def test_a_hostile_declared_limit_is_not_learned(declared):
    from lamina_jupyter.core.discover import Usage

    gov = RateGovernor(clock=FakeClock())
    usage = Usage.from_json({"credits": {"balance": 5}, "rateLimit": declared})
    gov.learn_limit(usage.rate_limit, usage.window_seconds)
    assert gov.state()["limit"] is None and gov.reserve() == 0 and gov.reserve() == 0


def test_nan_and_infinity_in_a_usage_body_read_as_unknown():
    """Python's json accepts NaN and Infinity; int(Infinity) would crash usage() and the batch."""
    import json

    from lamina_jupyter.core.discover import Usage

    body = json.loads('{"credits": {"balance": NaN}, "rateLimit": {"limit": Infinity, "windowMs": 1e999}}')
    usage = Usage.from_json(body)
    assert usage.balance is None and usage.rate_limit is None and usage.window_seconds is None


@pytest.mark.parametrize("budget", [float("nan"), float("inf"), 0, -5, "100"])
def test_a_nonsense_budget_is_refused_with_what_to_pass(budget):
    with pytest.raises(ValueError, match="requests per minute above 0, or None"):
        RateGovernor(clock=FakeClock()).set_budget(budget)


def test_a_budget_beyond_the_log_spaces_requests_without_keeping_a_log_that_big():
    clock = FakeClock()
    gov = RateGovernor(per_minute=6_000_000, clock=clock)  # 100,000 per second
    began = clock.now
    for _ in range(5000):
        clock.now += gov.reserve()
    assert clock.now - began == pytest.approx(4999 * 1e-5) and len(gov._booked) <= 2000


# -- starts before watches: a watch books only a slot within half an interval ------------------------
def _asked(gov: RateGovernor, clock: FakeClock, asks: list[tuple[float, str, bool]]) -> dict[str, float]:
    """Each (time, name, deferrable) asks the governor at that time, and again when told to; returns
    when each request was booked to go. The callers of a real process, on a fake clock."""
    queue = sorted((t, i, name, deferrable) for i, (t, name, deferrable) in enumerate(asks))
    sent: dict[str, float] = {}
    while queue:
        t, i, name, deferrable = queue.pop(0)
        clock.now = max(clock.now, t)
        turn = gov.turn(deferrable)
        if turn.booked:
            sent[name] = clock.now + turn.sleep
        else:
            assert turn.sleep > 0 and turn.wait > turn.sleep  # told to come back before its slot
            queue.append((clock.now + turn.sleep, i, name, deferrable))
            queue.sort()
    return sent


def test_starts_arriving_after_waiting_watches_still_go_first():
    """Three watches wait while a batch's starts keep coming, two at a time as the engine sends them:
    each start asks 0.1 s after the one two before it went (its answer). Every start keeps its early
    slot and the watches follow the last one; first come first served sent the watches at 2, 3 and
    4 s and pushed the last starts out to 5, 6 and 7 s."""
    clock = FakeClock(0.0)
    gov = RateGovernor(per_minute=60, clock=clock)
    asks = [(0.0, "start0", False), (0.0, "start1", False)]
    asks += [(0.01 * k, f"watch{k}", True) for k in range(1, 4)]
    asks += [(k - 2 + 0.1, f"start{k}", False) for k in range(2, 5)]
    sent = _asked(gov, clock, asks)
    assert [sent[f"start{k}"] for k in range(5)] == pytest.approx([0, 1, 2, 3, 4])
    assert sorted(sent[f"watch{k}"] for k in range(1, 4)) == pytest.approx([5, 6, 7])


@pytest.mark.parametrize("declared", [None, (3, 6.0)])
def test_watches_alone_lose_no_slot_and_none_starves(declared):
    """No start waiting: deferred watches take exactly the slots plain bookings would have had, each
    once, under spacing alone and under the booking log (3 per 6 s window, margin included)."""
    clock = FakeClock(0.0)
    gov = RateGovernor(per_minute=None if declared else 60, clock=clock)
    plain = RateGovernor(per_minute=None if declared else 60, clock=FakeClock(0.0))
    if declared:
        gov.learn_limit(*declared)
        plain.learn_limit(*declared)
    sent = _asked(gov, clock, [(0.0, f"watch{k}", True) for k in range(7)])
    assert sorted(sent.values()) == pytest.approx([plain.reserve() for _ in range(7)])


def test_a_deferred_watch_reports_the_whole_wait_of_a_pause():
    """After a 429's 30 s hint a watch is told to come back half an interval before the pause ends, and
    `wait` says the slot is 30 s away (what the MAX_HINT check reads); then it is booked."""
    clock = FakeClock(0.0)
    gov = RateGovernor(per_minute=60, clock=clock)
    gov.observe(429, {}, retry_after=30)
    turn = gov.turn(deferrable=True)
    assert not turn.booked and turn.wait == pytest.approx(30) and turn.sleep == pytest.approx(29.5)
    clock.now += turn.sleep
    assert gov.turn(deferrable=True) == pytest.approx((0.5, True, 0.5))
    assert gov.waiting_seconds() == pytest.approx(1.5)  # progress: the watch's slot is booked


def test_asking_again_and_again_never_adds_up_to_the_interactive_rate_limit_error():
    """An interactive wait deferred 200 times (200 s, past MAX_HINT's 120 s) while another thread's
    starts keep taking the near slot: no RateLimitError, and its /wait goes after the last start."""
    from client_flowkit import make_ctx

    from lamina_jupyter.core.protocol import MAX_HINT
    from lamina_jupyter.core.watch import watch

    ctx = make_ctx(strategy="wait")
    ctx.governor.set_budget(60)
    began = ctx.clock.now
    last_start = began + ctx.governor.reserve()
    flow = watch(ctx, "run-1", timeout=3600)
    step = next(flow)  # the watch's Deadline
    step, asked = flow.send(None), 0
    while isinstance(step, Sleep):
        ctx.clock.now += step.seconds
        if asked < 200:
            last_start = ctx.clock.now + ctx.governor.reserve()  # a start took the slot meanwhile
        asked += 1
        step = flow.send(None)
    assert isinstance(step, httpx.Request) and step.url.path == "/v1/runs/run-1/wait"
    assert ctx.clock.now - began > MAX_HINT and ctx.clock.now > last_start
    flow.close()


@pytest.mark.parametrize("strategy", ["wait", "stream"])
def test_an_interactive_watch_facing_a_long_pause_says_so(strategy):
    """Deferring does not hide a long pause: a watch whose slot is 300 s away raises at once, by /wait
    as by the stream (the stream used to sleep through it silently)."""
    from client_flowkit import drive, make_ctx, script

    from lamina_jupyter.core.errors import RateLimitError
    from lamina_jupyter.core.watch import watch

    ctx = make_ctx(strategy=strategy)
    ctx.governor.pause(300)
    with pytest.raises(RateLimitError) as caught:
        drive(ctx, watch(ctx, "run-1", live=strategy == "stream"), script())
    assert caught.value.retry_after == pytest.approx(300) and caught.value.trace.requests == []
