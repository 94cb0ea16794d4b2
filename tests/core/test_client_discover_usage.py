"""client.discover() and client.usage() on Client and AsyncClient, against the real emulator."""

from __future__ import annotations

import httpx
import pytest
from metered_credits import metered

from lamina_jupyter import APIError, AsyncClient, Client, ConfigurationError
from lamina_jupyter.core.discover import Discovery, Match, Usage

PRODUCT_SHOTS = "3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a03"
T2I = "3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a01"


@pytest.fixture
def v1(make_lamina):
    return make_lamina()


def test_discover_returns_ranked_matches_with_why_and_cost(v1, emulator):
    found = v1.discover("product photo on a beach")
    assert isinstance(found, Discovery) and found.medium == "image"
    top = found[0]
    assert isinstance(top, Match) and top.app_id == PRODUCT_SHOTS and top.name == "Product Shot Set"
    assert top.estimated_credits == 9 and 0 < top.relevance <= 1 and "product" in top.why
    assert [m.relevance for m in found] == sorted((m.relevance for m in found), reverse=True)
    assert top.app.id == PRODUCT_SHOTS and v1.get_app(top.app).has_details


def test_discover_sends_constraints_and_limit(v1, emulator):
    cheap = v1.discover("image photo caption", max_credits=4, limit=2)
    assert 0 < len(cheap) <= 2 and all(m.estimated_credits <= 4 for m in cheap)
    videos = v1.discover("anything at all", output_format="video")
    assert [m.name for m in videos] == ["Teaser Clip"] and videos.medium == "video"


@pytest.mark.parametrize(
    "kwargs, error",
    [({"intent": " "}, ValueError), ({"intent": "x", "limit": 0}, ValueError),
     ({"intent": "x", "max_credits": "9"}, TypeError), ({"intent": "x", "output_format": 3}, TypeError)],
)
def test_discover_misuse_is_caught_before_sending(v1, emulator, kwargs, error):
    emulator.reset_stats()
    with pytest.raises(error):
        v1.discover(**kwargs)
    assert emulator.stats["requests"] == 0


def test_usage_reports_the_balance_runs_consume(v1, emulator):
    with metered(emulator, 50):
        before = v1.usage()
        assert isinstance(before, Usage) and before.balance == 50 and before.total_spent == 0
        assert before.rate_limit is None or before.rate_limit > 0
        v1.start(T2I, {"Prompt": "a lighthouse"})
        after = v1.usage()
        assert after.balance == 46 and after.total_spent == 4 and after.total_earned == 50


def test_usage_reports_the_rate_limit(v1, emulator):
    emulator.configure(rate_limit=100)
    usage = v1.usage()
    assert usage.rate_limit == 100 and usage.window_seconds == 60


def test_a_start_refused_for_credits_is_an_api_error_not_a_retry(v1, emulator):
    with metered(emulator, 3):
        emulator.reset_stats()
        with pytest.raises(APIError) as info:
            v1.start(T2I, {"Prompt": "a lighthouse"})
        assert info.value.status_code == 402 and info.value.code == "INSUFFICIENT_CREDITS"
        assert "Insufficient credits" in str(info.value)
        starts = {k: v for k, v in emulator.stats["requests_by_route"].items() if "runs" in k}
        assert sum(starts.values()) == 1, starts  # not retried, not reconciled into a second POST


def test_legacy_clients_refuse_v1_only_calls(make_lamina):
    legacy = make_lamina(api="legacy")
    with pytest.raises(ConfigurationError, match="api='v1'"):
        legacy.discover("a photo")
    with pytest.raises(ConfigurationError, match="api='v1'"):
        legacy.usage()


def test_odd_server_shapes_become_none_not_errors():
    def odd(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/usage"):
            return httpx.Response(200, json={"data": {"credits": {"balance": "lots"}, "rateLimit": None}})
        return httpx.Response(200, json={"data": {"matches": [
            {"appId": "a", "name": "A", "estimatedCredits": {"expected": 3}, "relevanceScore": True},
            "junk"], "intent": "image"}})

    transport = httpx.MockTransport(odd)
    with Client(api_key="lma_test_key", base_url="http://127.0.0.1:9", transport=transport) as c:
        found = c.discover("x")
        assert [m.app_id for m in found] == ["a"] and found[0].estimated_credits == 3
        assert found[0].relevance is None and found.medium is None
        usage = c.usage()
        assert usage.balance is None and usage.rate_limit is None


def test_both_clients_have_the_same_new_methods():
    for name in ("discover", "usage"):
        assert callable(getattr(Client, name)) and callable(getattr(AsyncClient, name))
