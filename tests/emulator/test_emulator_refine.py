"""POST /v1/runs/{id}/feedback over real HTTP (lamina-api.md §4.11): in place, completed runs only."""

from __future__ import annotations

import io

import pytest
from emulator_helpers import start, wait
from PIL import Image, ImageChops, ImageStat
from suite import CAPTION_WRITER, PRODUCT_SHOT, TEASER_CLIP, TEXT_TO_IMAGE, route_count


def refine(http, run_id: str, feedback="make the background brighter"):
    return http.post(f"/v1/runs/{run_id}/feedback", json={"feedback": feedback})


def picture(http, url: str) -> Image.Image:
    response = http.get(url)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    return Image.open(io.BytesIO(response.content)).convert("RGB")


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean per-channel pixel difference (0 = identical, 255 = opposite)."""
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


def test_refine_changes_the_image_in_place_on_the_same_run(emulator, http):
    run = wait(http, start(http, TEXT_TO_IMAGE, {"prompt_text": "a lighthouse"})["runId"])
    created = emulator.stats["runs_created"]
    response = refine(http, run["runId"], "more dramatic sky")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["runId"] == run["runId"] and data["status"] == "completed" and data["errorMessage"] is None
    assert "more dramatic sky" in data["summary"]
    assert [n["nodeId"] for n in data["refinedNodes"]] == [run["outputs"][0]["id"]]
    assert all(n["reason"] for n in data["refinedNodes"])
    [new] = data["outputs"]
    assert new["type"] == "image" and new["value"] != run["outputs"][0]["value"]
    assert http.get(f"/v1/runs/{run['runId']}").json()["data"]["outputs"][0]["value"] == new["value"]
    assert emulator.stats["runs_created"] == created  # in place: no new run
    before, after = picture(http, run["outputs"][0]["value"]), picture(http, new["value"])
    assert before.size == after.size and difference(before, after) > 20  # visibly changed
    again = refine(http, run["runId"], "more dramatic sky").json()["data"]["outputs"][0]["value"]
    assert again != new["value"] and difference(after, picture(http, again)) > 10  # each version differs


def test_feedback_naming_an_output_refines_only_that_node(http):
    run = wait(http, start(http, PRODUCT_SHOT, {"product_text": "a mug"})["runId"])
    data = refine(http, run["runId"], "Back View: show the handle").json()["data"]
    assert [o["label"] for o in data["outputs"]] == ["Back View"]
    after = http.get(f"/v1/runs/{run['runId']}").json()["data"]["outputs"]
    assert [a["value"] == b["value"] for a, b in zip(run["outputs"], after, strict=True)] == [
        True,
        False,
        True,
    ]


def test_text_and_video_outputs_are_refined_too(http):
    caption = wait(http, start(http, CAPTION_WRITER, {"topic_text": "tea"})["runId"])
    text = refine(http, caption["runId"], "shorter").json()["data"]["outputs"][0]
    assert (
        text["type"] == "text"
        and "shorter" in text["value"]
        and text["value"] != caption["outputs"][0]["value"]
    )
    clip = wait(http, start(http, TEASER_CLIP, {"prompt_text": "waves"})["runId"], timeout=20)
    video = refine(http, clip["runId"], "slower").json()["data"]["outputs"][0]
    assert video["value"] != clip["outputs"][0]["value"]
    gif = http.get(video["value"])
    assert gif.status_code == 200 and gif.headers["content-type"] == "image/gif"


def assert_refused(response, status: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR" and body["retryable"] is False
    assert body["requestId"] == response.headers["x-request-id"]
    assert f"is {status}" in body["error"] and "completed" in body["error"]
    assert body["details"][0]["field"] == "runId" and body["details"][0]["error"] == "invalid_state"


def test_queued_run_is_refused(emulator, http):
    emulator.configure(latency=30)  # queued for the first fifth of its time
    run = start(http, TEXT_TO_IMAGE)
    assert_refused(refine(http, run["runId"]), "queued")
    assert http.get(f"/v1/runs/{run['runId']}").json()["data"]["status"] == "queued"


def test_running_run_is_refused(http):
    run = start(http, TEXT_TO_IMAGE, {"prompt_text": "never ends #stuck"})
    for _ in range(100):
        if http.get(f"/v1/runs/{run['runId']}").json()["data"]["status"] == "running":
            break
        http.get(f"/v1/runs/{run['runId']}/wait", params={"timeout": 1})
    assert_refused(refine(http, run["runId"]), "running")


def test_failed_run_is_refused(http):
    run = wait(http, start(http, TEXT_TO_IMAGE, {"prompt_text": "broken #fail"})["runId"])
    assert run["status"] == "failed"
    response = refine(http, run["runId"])
    assert_refused(response, "failed")
    assert "start a new run" in response.json()["details"][0]["message"]


def test_cancelled_run_is_refused(emulator, http):
    emulator.configure(latency=30)
    run = start(http, TEXT_TO_IMAGE)
    http.post(f"/v1/runs/{run['runId']}/cancel")
    assert_refused(refine(http, run["runId"]), "cancelled")


@pytest.mark.parametrize(
    "body", [{}, {"feedback": ""}, {"feedback": "  "}, {"feedback": 3}, {"feedback": "x" * 2001}]
)
def test_bad_feedback_is_a_validation_error_naming_the_field(http, body):
    run = wait(http, start(http, CAPTION_WRITER, {"topic_text": "tea"})["runId"])
    response = http.post(f"/v1/runs/{run['runId']}/feedback", json=body)
    assert response.status_code == 400 and response.json()["details"][0]["field"] == "feedback"


def test_unknown_run_and_the_legacy_family(emulator, http):
    missing = refine(http, "no-such-run")
    assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"
    run = wait(http, start(http, CAPTION_WRITER, {"topic_text": "tea"})["runId"])
    legacy = http.post(f"/api/executions/{run['runId']}/feedback", json={"feedback": "x"})
    assert legacy.status_code == 404 and "code" not in legacy.json()  # the legacy family has no refine
    assert route_count(emulator, "POST /v1/runs/{id}/feedback") >= 1
