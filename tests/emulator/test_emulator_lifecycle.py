"""Run lifecycle: queued -> running -> outputs one by one -> terminal; failure words; hold; stats."""

from __future__ import annotations

import time

from emulator_helpers import start, wait
from suite import CAPTION_WRITER, TEXT_TO_IMAGE
from suite import PRODUCT_SHOT as PRODUCT_SHOTS


def test_run_goes_queued_running_completed(emulator, http):
    emulator.configure(latency=0.6)
    run = start(http)
    assert run["status"] == "queued" and run["startedAt"] is None
    assert [o["status"] for o in run["outputs"]] == ["pending"]
    seen = {run["status"]}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        data = http.get(f"/v1/runs/{run['runId']}").json()["data"]
        seen.add(data["status"])
        if data["status"] == "completed":
            break
        time.sleep(0.03)
    assert seen == {"queued", "running", "completed"}
    out = data["outputs"][0]
    assert out["status"] == "completed" and out["type"] == "image" and out["mimeType"] == "image/png"
    assert data["startedAt"] and data["completedAt"] and data["createdAt"].endswith("Z")
    assert data["progress"] == {
        "totalOutputs": 1,
        "completedOutputs": 1,
        "failedOutputs": 0,
        "percentComplete": 100,
    }


def test_outputs_complete_one_by_one(emulator, http):
    emulator.configure(latency=0.5)
    run = start(http, PRODUCT_SHOTS, {"product_text": "a mug"})
    counts = set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        data = http.get(f"/v1/runs/{run['runId']}").json()["data"]
        counts.add(data["progress"]["completedOutputs"])
        if data["status"] == "completed":
            break
        time.sleep(0.02)
    assert counts == {0, 1, 2, 3}
    assert [o["label"] for o in data["outputs"]] == ["Front View", "Back View", "Caption"]
    assert data["outputs"][2]["value"] == "a mug, photographed in a studio setting."


def test_fail_word_fails_the_run_with_messages(http):
    data = wait(http, start(http, CAPTION_WRITER, {"topic_text": "boom #fail"})["runId"])
    assert data["status"] == "failed" and data["errorMessage"]
    assert data["outputs"][0]["status"] == "error" and data["outputs"][0]["error"]
    assert data["outputs"][0]["type"] == "pending"


def test_stuck_word_stays_running_until_cancelled(emulator, http):
    run = start(http, inputs={"prompt_text": "#stuck forever"})
    response = http.get(f"/v1/runs/{run['runId']}/wait", params={"timeout": 1})
    assert response.json()["timeout"] is True and response.json()["data"]["status"] == "running"
    cancelled = http.post(f"/v1/runs/{run['runId']}/cancel").json()["data"]
    assert cancelled == {"runId": run["runId"], "status": "cancelled"}
    data = http.get(f"/v1/runs/{run['runId']}").json()["data"]
    assert data["status"] == "cancelled" and data["outputs"][0]["status"] == "cancelled"


def test_hold_keeps_runs_running_until_released(emulator, http):
    """A 0.15 s run is still running when a 1 s /wait gives up: the server's own clock, not a sleep on
    a loaded machine, says it would have finished by then."""
    emulator.configure(hold=True)
    run = start(http)
    body = http.get(f"/v1/runs/{run['runId']}/wait", params={"timeout": 1}).json()
    assert body.get("timeout") is True and body["data"]["status"] == "running", body
    emulator.configure(hold=False)
    assert wait(http, run["runId"])["status"] == "completed"


def test_seeded_failure_rate_and_stats(emulator, http):
    emulator.configure(failure_rate=1.0)
    assert wait(http, start(http)["runId"])["status"] == "failed"
    emulator.configure(failure_rate=0.0)
    emulator.reset_stats()
    ids = [start(http, TEXT_TO_IMAGE, {"prompt_text": "same"})["runId"] for _ in range(3)]
    for run_id in ids:
        wait(http, run_id)
    stats = emulator.stats
    assert stats["runs_created"] == 3 and stats["duplicate_starts"] == 2
    assert stats["requests_by_route"]["POST /v1/apps/{id}/runs"] == 3
    assert 1 <= stats["peak_running"] <= 3 and stats["running"] == 0
    mine = [r for r in emulator.runs() if r["run_id"] in ids]
    assert [r["inputs"] for r in mine] == [{"prompt_text": "same"}] * 3
    assert {r["family"] for r in mine} == {"v1"} and {r["status"] for r in mine} == {"completed"}
