"""Every wait and read has a total bound (issue 12 item 4): a stuck run that only sends pings, a
server that drips, a hint that asks for decades. The byte-level servers are in
tests/reliability/test_rel_transport.py; here the real emulator and the pure governor."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from suite import CAPTION_WRITER

from lamina_jupyter import Client
from lamina_jupyter.core.bounds import MAX_BODY, Lines
from lamina_jupyter.core.errors import LaminaWarning, ResponseError, WaitTimeout
from lamina_jupyter.core.protocol import retry_hint
from lamina_jupyter.core.ratelimit import MAX_SERVER_WAIT, RateGovernor
from lamina_jupyter.core.watch import GRACE


@pytest.mark.parametrize("strategy", ["auto", "stream", "wait", "poll"])
def test_wait_on_a_stuck_run_that_only_pings_ends_within_its_timeout(emulator, make_lamina, strategy):
    emulator.configure(hold=True, time_factor=0.02)  # the run never moves; SSE pings every 0.3 s
    lamina = make_lamina(wait_strategy=strategy)
    run = lamina.start(CAPTION_WRITER, {"Topic": f"stuck {uuid.uuid4().hex[:8]}"})
    seen: list = []
    t0 = time.monotonic()
    with pytest.raises(WaitTimeout) as info:
        lamina.wait(run, timeout=1, on_update=seen.append)
    elapsed = time.monotonic() - t0
    assert elapsed < 1 + GRACE + 0.6, f"wait(timeout=1) took {elapsed:.1f} s"
    assert info.value.run_id == run.id and seen and seen[0].status in ("queued", "running")


def _governor(now: list[float]) -> RateGovernor:
    return RateGovernor(clock=lambda: now[0], wall=lambda: 1_700_000_000.0)


@pytest.mark.parametrize("reset", ["999999999", "1e300", "31536000"])
def test_an_exhausted_window_with_an_absurd_reset_pauses_at_most_ten_minutes(reset):
    now = [0.0]
    gov = _governor(now)
    with pytest.warns(LaminaWarning, match=r"RateLimit-Reset.*600"):
        gov.observe(200, {"RateLimit-Remaining": "0", "RateLimit-Reset": reset})
    assert gov.waiting_seconds() == MAX_SERVER_WAIT == 600


@pytest.mark.parametrize("reset", ["-5", "nan", "inf", "-1e300"])
def test_a_nonsense_reset_is_ignored(reset):
    gov = _governor([0.0])
    gov.observe(200, {"RateLimit-Remaining": "0", "RateLimit-Reset": reset})
    assert gov.waiting_seconds() == 0


def test_an_epoch_reset_in_the_near_future_is_honoured_and_one_in_the_past_is_not():
    gov = _governor([0.0])
    gov.observe(200, {"RateLimit-Remaining": "0", "RateLimit-Reset": str(1_700_000_000 + 30)})
    assert gov.waiting_seconds() == 30
    fresh = _governor([0.0])
    fresh.observe(200, {"RateLimit-Remaining": "0", "RateLimit-Reset": str(1_700_000_000 - 30)})
    assert fresh.waiting_seconds() == 0


def test_a_429_hint_passed_to_the_governor_is_capped_too():
    gov = _governor([0.0])
    with pytest.warns(LaminaWarning, match="600"):
        gov.observe(429, {}, retry_after=1e12)
    assert gov.waiting_seconds() == 600


def _response(headers: dict[str, str]) -> httpx.Response:
    return httpx.Response(429, headers=headers, request=httpx.Request("GET", "http://127.0.0.1/v1/runs/x"))


@pytest.mark.parametrize(("headers", "body", "source"), [
    ({"Retry-After": "999999999"}, None, "Retry-After"),
    ({"retry-after-ms": "1e15"}, None, "retry-after-ms"),
    ({}, {"retryAfter": 10**400}, None),
    ({}, {"retryAfter": 86400 * 365}, "retryAfter"),
    ({"Retry-After": "Fri, 01 Jan 2100 00:00:00 GMT"}, None, "Retry-After date"),
])
def test_every_retry_hint_is_capped_at_ten_minutes(headers, body, source):
    if source is None:  # a number too big for a float is nonsense: ignored, not capped
        assert retry_hint(_response(headers), body, wall=1_700_000_000.0) is None
        return
    with pytest.warns(LaminaWarning, match=source):
        assert retry_hint(_response(headers), body, wall=1_700_000_000.0) == MAX_SERVER_WAIT


@pytest.mark.parametrize(("headers", "body"), [
    ({"Retry-After": "-5"}, None),
    ({"retry-after-ms": "nan"}, None),
    ({"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"}, None),
    ({}, {"retryAfter": float("inf")}),
])
def test_a_negative_or_nonsense_retry_hint_is_ignored(headers, body):
    assert retry_hint(_response(headers), body, wall=1_700_000_000.0) is None


def test_a_sane_later_hint_is_used_when_the_first_is_nonsense():
    assert retry_hint(_response({"Retry-After": "-1"}), {"retryAfter": 2}, wall=0.0) == 2.0


def test_no_socket_timeout_outlives_the_wait_deadline():
    """A silent socket cannot be interrupted in the sync client, so its per-read timeouts are clipped
    to the time the wait has left (the /wait long poll asks for window + 15 s)."""
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json={"data": {"runId": "r1", "status": "completed"}})

    with Client(api_key="lma_test_0123456789", base_url="http://127.0.0.1:9",
                transport=httpx.MockTransport(handler)) as c:
        assert c.wait("r1", timeout=3).status == "completed"
    assert 3.5 < seen[0]["read"] <= 3 + GRACE and seen[0]["connect"] <= 4 and seen[0]["pool"] <= 4


def test_event_stream_lines_split_on_any_line_end_even_across_chunks():
    lines = Lines(httpx.Response(200))
    got = [*lines.feed(b"data: a\r"), *lines.feed(b"\ndata: b\rdata: c\n\n"), *lines.feed(b"tail"),
           *lines.close()]
    assert got == ["data: a", "data: b", "data: c", "", "tail"]


def test_an_event_stream_line_that_never_ends_is_refused_at_the_cap():
    lines = Lines(httpx.Response(200, request=httpx.Request("GET", "http://127.0.0.1/v1/runs/x/stream")))
    with pytest.raises(ResponseError, match="16 MiB"):
        for _ in range(MAX_BODY // 65536 + 2):
            lines.feed(b"x" * 65536)
