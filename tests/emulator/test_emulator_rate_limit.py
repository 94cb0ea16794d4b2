"""Rate limiting per client IP (time-scaled), with a sliding (default) or fixed window; RateLimit-*
headers on 429s, or on every API response when `rate_limit_headers="always"`."""

from __future__ import annotations

import time

import pytest
from emulator_helpers import TEXT_TO_IMAGE, start, wait

from lamina_jupyter.emulator.ratelimit import RateLimiter


def test_headers_count_down_then_429_then_reset(emulator, http):
    # 3 per 3 s: the four requests below must all fall in one window, even on a loaded machine
    emulator.configure(rate_limit=3, time_factor=0.05, rate_limit_headers="always")
    limited_before = emulator.stats["rate_limited"]  # the session emulator's count, from earlier tests
    remaining = []
    for _ in range(3):
        response = http.get("/v1/apps")
        assert response.status_code == 200
        assert response.headers["ratelimit-limit"] == "3"
        assert 0 <= int(response.headers["ratelimit-reset"]) <= 3
        remaining.append(int(response.headers["ratelimit-remaining"]))
    assert remaining == [2, 1, 0]
    limited = http.get("/v1/runs")
    assert limited.status_code == 429
    body = limited.json()
    assert body["code"] == "RATE_LIMITED" and body["retryable"] is True
    assert isinstance(body["retryAfter"], int) and body["retryAfter"] >= 1
    assert limited.headers["retry-after"] == str(body["retryAfter"])
    assert limited.headers["ratelimit-remaining"] == "0"
    assert emulator.stats["rate_limited"] == limited_before + 1
    time.sleep(3.05)  # at least a window since the last request it counted: all three have left it
    again = http.get("/v1/apps")
    assert again.status_code == 200 and again.headers["ratelimit-remaining"] == "2"


def test_by_default_only_a_429_carries_the_headers(emulator, http):
    """As the docs show: RateLimit-* and Retry-After on the 429, nothing on ordinary answers."""
    emulator.configure(rate_limit=2, time_factor=1.0)
    for _ in range(2):
        ok = http.get("/v1/apps")
        assert ok.status_code == 200
        assert not [h for h in ok.headers if h.startswith("ratelimit-")], ok.headers
    limited = http.get("/v1/apps")
    assert limited.status_code == 429
    assert limited.headers["ratelimit-limit"] == "2" and limited.headers["ratelimit-remaining"] == "0"
    assert int(limited.headers["ratelimit-reset"]) >= 1 and int(limited.headers["retry-after"]) >= 1


def test_limit_is_per_ip_whatever_the_key(emulator, http, anon):
    """Every key from one IP, a missing or invalid one included, spends the same budget."""
    emulator.configure(rate_limit=4, time_factor=1.0)
    assert anon.get("/v1/apps").status_code == 401
    assert anon.get("/v1/apps", headers={"x-api-key": "lma_someone_else"}).status_code == 401
    assert http.get("/v1/apps").status_code == 200
    assert anon.get("/v1/apps", headers={"x-api-key": "lma_teammate"}).status_code == 401
    assert http.get("/v1/apps").status_code == 429  # the others spent our budget
    assert anon.get("/v1/apps").status_code == 429


def test_media_and_admin_do_not_count(emulator, http):
    emulator.configure(rate_limit=100)
    data = wait(http, start(http, TEXT_TO_IMAGE)["runId"])
    emulator.configure(rate_limit=2, time_factor=1.0, rate_limit_headers="always")  # fresh windows
    for _ in range(5):
        media = http.get(data["outputs"][0]["value"])
        assert media.status_code == 200 and "ratelimit-limit" not in media.headers
        assert http.get("/_emulator/stats").status_code == 200
    assert http.get("/v1/apps").headers["ratelimit-remaining"] == "1"


def test_disabled_rate_limit_sends_no_headers(emulator, http):
    emulator.configure(rate_limit=None)
    assert all("ratelimit-limit" not in http.get("/v1/apps").headers for _ in range(3))


def test_usage_reports_the_scaled_window(emulator, http):
    emulator.configure(rate_limit=7, time_factor=0.5)
    assert http.get("/v1/account/usage").json()["data"]["rateLimit"] == {"limit": 7, "windowMs": 30000}


def test_sliding_window_refuses_the_boundary_burst_a_fixed_window_lets_through():
    """The same requests against both readings of "100 per minute": at a fixed window's reset a
    client may send the limit again at once; the sliding window counts the last 60 s whatever the
    phase, so the burst is refused until the early requests have left it."""
    times = [0.0] + [50.0] * 99 + [60.5] * 3  # 100 in the first window, 3 just after its reset
    for mode, expected in (("fixed", [True] * 103), ("sliding", [True] * 101 + [False] * 2)):
        limiter = RateLimiter()
        got = [limiter.check("ip", 100, 60.0, mode, now=t).allowed for t in times]
        assert got == expected, mode
    sliding = RateLimiter()
    for t in times[:100]:
        sliding.check("ip", 100, 60.0, "sliding", now=t)
    refused = sliding.check("ip", 100, 60.0, "sliding", now=60.5)
    assert refused.allowed  # the request at 0.0 has left the window: one slot
    refused = sliding.check("ip", 100, 60.0, "sliding", now=60.6)
    assert not refused.allowed and refused.reset == pytest.approx(49.4)  # the next slot: at 110.0
    assert refused.retry_after == 50


@pytest.mark.parametrize("mode", ["sliding", "fixed"])
def test_both_windows_over_real_http(emulator, http, mode):
    """3 per 3 s: one request, two more 2 s later, then two after the first window's end. A fixed
    window has reset and takes both; a sliding one still counts the two from 2 s ago."""
    emulator.configure(rate_limit=3, time_factor=0.05, rate_limit_window=mode)
    assert http.get("/v1/apps").status_code == 200
    time.sleep(2.0)
    assert [http.get("/v1/apps").status_code for _ in range(2)] == [200, 200]
    time.sleep(1.2)
    codes = [http.get("/v1/apps").status_code for _ in range(2)]
    assert codes == ([200, 200] if mode == "fixed" else [200, 429])


def test_the_window_kind_is_validated(emulator):
    with pytest.raises(ValueError, match="rate_limit_window must be one of sliding, fixed"):
        emulator.configure(rate_limit_window="leaky")
