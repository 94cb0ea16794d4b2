"""Discover (apps ranked for an intent) and the credit balance that runs consume, over real HTTP."""

from __future__ import annotations

import pytest
from emulator_helpers import start
from metered_credits import metered
from suite import CAPTION_WRITER, CARTOONIFY, TEASER_CLIP, TEXT_TO_IMAGE
from suite import PRODUCT_SHOT as PRODUCT_SHOTS


def discover(http, intent, **body):
    response = http.post("/v1/apps/discover", json={"intent": intent, **body})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_discover_ranks_by_keywords_and_medium(http):
    data = discover(http, "product photo on a beach")
    ids = [m["appId"] for m in data["matches"]]
    assert ids[0] == PRODUCT_SHOTS  # "product" in name and description, and it makes images
    assert TEASER_CLIP not in ids and CAPTION_WRITER not in ids  # no word, not the asked medium
    assert data["intent"]["medium"] == "image"
    assert data["intent"]["summary"] == "product photo on a beach"
    top = data["matches"][0]
    assert "'product' in its name" in top["whyMatch"] and "it produces image" in top["whyMatch"]
    assert top["estimatedCredits"] == 9  # two images (4 each) and a caption (1)
    scores = [m["relevanceScore"] for m in data["matches"]]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
    assert {"description", "capabilities"} <= set(top)


def test_discover_is_deterministic_and_asks_the_medium_from_the_words(http):
    first = discover(http, "a short teaser clip of a city at night")
    assert first == discover(http, "a short teaser clip of a city at night")
    assert first["matches"][0]["appId"] == TEASER_CLIP and first["intent"]["medium"] == "video"


def test_discover_honours_max_credits_and_output_format(http):
    cheap = discover(http, "caption image photo", constraints={"maxCredits": 4})
    assert cheap["matches"] and all(m["estimatedCredits"] <= 4 for m in cheap["matches"])
    assert PRODUCT_SHOTS not in {m["appId"] for m in cheap["matches"]}
    videos = discover(http, "something nice", constraints={"outputFormat": "video"})
    assert [m["appId"] for m in videos["matches"]] == [TEASER_CLIP]
    pngs = discover(http, "a cartoon", constraints={"outputFormat": "image/png"})
    assert {m["appId"] for m in pngs["matches"]} <= {TEXT_TO_IMAGE, CARTOONIFY, PRODUCT_SHOTS}
    assert pngs["matches"][0]["appId"] == CARTOONIFY


def test_discover_limit_defaults_to_5_and_tolerates_the_clis_20(http):
    intent = "image video text caption photo clip"
    assert len(discover(http, intent, limit=2)["matches"]) == 2
    assert len(discover(http, intent)["matches"]) == 5
    assert len(discover(http, intent, limit=20)["matches"]) == 5  # all five apps; 20 is clamped to 10


@pytest.mark.parametrize(
    "body, field",
    [({}, "intent"), ({"intent": "  "}, "intent"), ({"intent": "x", "limit": 0}, "limit"),
     ({"intent": "x", "constraints": {"maxCredits": "lots"}}, "constraints.maxCredits")],
)
def test_discover_rejects_a_bad_body_with_the_field(http, body, field):
    response = http.post("/v1/apps/discover", json=body)
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == field


def test_runs_consume_a_metered_balance_by_their_estimate(http, emulator):
    with metered(emulator, 10):
        usage = http.get("/v1/account/usage").json()["data"]["credits"]
        assert usage == {"balance": 10, "totalEarned": 10, "totalSpent": 0}
        start(http)  # Text to Image: 4 credits
        start(http)
        estimate = http.post(f"/v1/apps/{TEXT_TO_IMAGE}/estimate").json()["data"]
        assert estimate["currentBalance"] == 2 and estimate["affordable"] is False
        refused = http.post(f"/v1/apps/{TEXT_TO_IMAGE}/runs", json={"inputs": {"prompt_text": "x"}})
        assert refused.status_code == 402
        body = refused.json()
        assert body["code"] == "INSUFFICIENT_CREDITS" and body["retryable"] is False
        assert "needs 4" in body["error"] and "2 left" in body["error"] and body["requestId"]
        start(http, CAPTION_WRITER, {"topic_text": "tea"})  # 1 credit still fits
        assert http.get("/v1/account/usage").json()["data"]["credits"]["balance"] == 1


def test_the_out_of_credits_status_is_configurable(http, emulator):
    with metered(emulator, 0, status=403):
        refused = http.post(f"/v1/apps/{TEXT_TO_IMAGE}/runs", json={"inputs": {"prompt_text": "x"}})
        assert refused.status_code == 403 and refused.json()["code"] == "INSUFFICIENT_CREDITS"


def test_unmetered_balance_never_refuses(http, emulator):
    emulator.configure(credits=None)
    before = http.get("/v1/account/usage").json()["data"]["credits"]
    start(http)
    after = http.get("/v1/account/usage").json()["data"]["credits"]
    assert after["totalSpent"] == before["totalSpent"] + 4


@pytest.mark.parametrize("bad", [{"credits": -1}, {"credits": "ten"}, {"out_of_credits_status": 200}])
def test_credit_settings_are_validated(emulator, bad):
    with pytest.raises(ValueError):
        emulator.configure(**bad)
