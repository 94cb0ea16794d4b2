"""Fixed-window rate limiting with RateLimit-* headers on every API response (time-scaled)."""

from __future__ import annotations

import time

from emulator_helpers import TEXT_TO_IMAGE, start, wait


def test_headers_count_down_then_429_then_reset(emulator, http):
    emulator.configure(rate_limit=3, time_factor=0.02)  # 3 requests per 1.2 s
    remaining = []
    for _ in range(3):
        response = http.get("/v1/apps")
        assert response.status_code == 200
        assert response.headers["ratelimit-limit"] == "3"
        assert 0 <= int(response.headers["ratelimit-reset"]) <= 2
        remaining.append(int(response.headers["ratelimit-remaining"]))
    assert remaining == [2, 1, 0]
    limited = http.get("/v1/runs")
    assert limited.status_code == 429
    body = limited.json()
    assert body["code"] == "RATE_LIMITED" and body["retryable"] is True
    assert isinstance(body["retryAfter"], int) and body["retryAfter"] >= 1
    assert limited.headers["retry-after"] == str(body["retryAfter"])
    assert limited.headers["ratelimit-remaining"] == "0"
    assert emulator.stats["rate_limited"] == 1
    time.sleep(1.25)
    again = http.get("/v1/apps")
    assert again.status_code == 200 and again.headers["ratelimit-remaining"] == "2"


def test_limit_is_per_key_and_covers_errors(emulator, http, anon):
    emulator.configure(rate_limit=2, time_factor=1.0)
    assert anon.get("/v1/apps").status_code == 401
    assert anon.get("/v1/apps").headers["ratelimit-remaining"] == "0"
    assert anon.get("/v1/apps").status_code == 429
    assert http.get("/v1/apps").status_code == 200  # the real key has its own window


def test_media_and_admin_do_not_count(emulator, http):
    emulator.configure(rate_limit=100)
    data = wait(http, start(http, TEXT_TO_IMAGE)["runId"])
    emulator.configure(rate_limit=2, time_factor=1.0)  # fresh windows
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
