"""Every /v1 endpoint over real HTTP, shapes as documented in lamina-api.md."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
from emulator_helpers import start, wait
from suite import CAPTION_WRITER, CARTOONIFY, TEASER_CLIP, TEXT_TO_IMAGE
from suite import PRODUCT_SHOT as PRODUCT_SHOTS

ALL_APPS = {TEXT_TO_IMAGE, CARTOONIFY, PRODUCT_SHOTS, CAPTION_WRITER, TEASER_CLIP}


def test_list_apps_search_and_limit(http):
    data = http.get("/v1/apps").json()["data"]
    assert {a["appId"] for a in data} == ALL_APPS
    assert all({"appId", "name", "description", "isPublic", "capabilities"} <= set(a) for a in data)
    found = http.get("/v1/apps", params={"search": "caption"}).json()["data"]
    assert [a["name"] for a in found] == ["Product Shot Set", "Caption Writer"]
    assert len(http.get("/v1/apps", params={"limit": 2}).json()["data"]) == 2


def test_get_app_has_parameters_and_outputs(http):
    app = http.get(f"/v1/apps/{CARTOONIFY}").json()["data"]
    assert app["name"] == "Cartoonify!"
    upload, style, aspect = app["parameters"]
    assert (
        upload["key"] == "your_photo_image_url" and upload["type"] == "url" and upload["accept"] == ["image"]
    )
    assert upload["default"].endswith("/media/samples/portrait.png")
    assert style["options"] == ["Ghibli", "Simpsons", "Disney / Pixar", "Cyberpunk"]
    assert aspect["default"] == "1:1"
    assert all(p["required"] is True for p in app["parameters"])  # v1: defaults decide
    assert app["outputs"] == [{"index": 0, "label": "Cartoon", "type": "image"}]
    shots = http.get(f"/v1/apps/{PRODUCT_SHOTS}").json()["data"]
    assert [o["label"] for o in shots["outputs"]] == ["Front View", "Back View", "Caption"]


def test_workflow_graph_lists_output_nodes(http):
    graph = http.get(f"/v1/apps/{PRODUCT_SHOTS}/workflow").json()["data"]
    assert len(graph["nodes"]) == 3 and graph["edges"] == []


def test_estimate_with_and_without_inputs(http):
    est = http.post(f"/v1/apps/{PRODUCT_SHOTS}/estimate").json()["data"]
    credits = est["estimatedCredits"]
    assert credits["min"] <= credits["expected"] <= credits["max"]
    assert sum(b["credits"] for b in est["breakdown"]) == credits["expected"]
    assert est["affordable"] is True and est["currentBalance"] > 0
    ok = http.post(f"/v1/apps/{PRODUCT_SHOTS}/estimate", json={"inputs": {"product_text": "mug"}})
    assert ok.status_code == 200
    bad = http.post(f"/v1/apps/{PRODUCT_SHOTS}/estimate", json={"inputs": {"nope": 1}})
    assert bad.status_code == 400 and bad.json()["code"] == "VALIDATION_ERROR"


def test_start_returns_202_placeholders_and_webhook_url(http):
    response = http.post(
        f"/v1/apps/{PRODUCT_SHOTS}/runs",
        params={"webhook": "https://example.com/hook"},
        json={"inputs": {"Product": "a lamp"}},
    )
    assert response.status_code == 202
    run = response.json()["data"]
    assert run["status"] == "queued" and run["workflowId"] == PRODUCT_SHOTS
    assert run["workflowName"] == "Product Shot Set" and run["webhookUrl"] == "https://example.com/hook"
    assert all(o["value"] is None and o["type"] == "pending" for o in run["outputs"])
    assert len({o["id"] for o in run["outputs"]}) == 3
    assert "webhookUrl" not in start(http)


@pytest.mark.parametrize("key", ["prompt_text", "prompt", "Prompt"])
def test_inputs_resolve_by_key_id_and_name(http, key):
    assert wait(http, start(http, inputs={key: "fox"})["runId"])["status"] == "completed"


def test_outputs_subset_is_case_insensitive(http):
    response = http.post(
        f"/v1/apps/{PRODUCT_SHOTS}/runs",
        json={"inputs": {"product_text": "mug"}, "outputs": ["caption", "FRONT VIEW"]},
    )
    assert response.status_code == 202
    data = wait(http, response.json()["data"]["runId"])
    assert [o["label"] for o in data["outputs"]] == ["Front View", "Caption"]
    bad = http.post(
        f"/v1/apps/{PRODUCT_SHOTS}/runs", json={"inputs": {"product_text": "m"}, "outputs": ["Side"]}
    )
    assert bad.status_code == 400 and bad.json()["details"][0]["field"] == "outputs"


def test_validation_reports_every_problem_at_once(http):
    response = http.post(
        f"/v1/apps/{TEXT_TO_IMAGE}/runs",
        json={"inputs": {"style": "Cubist", "aspect_ratio": 169, "colour": "red"}},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR" and body["retryable"] is False and body["requestId"]
    errors = {d["field"]: d for d in body["details"]}
    assert errors["style"]["error"] == "invalid_option"
    assert errors["style"]["allowed"] == ["Photographic", "Watercolor", "Neon", "Pixel Art"]
    assert errors["style"]["message"] == (
        '"style": invalid option "Cubist". Must be one of: Photographic, Watercolor, Neon, Pixel Art'
    )
    assert errors["aspect_ratio"]["error"] == "invalid_type"
    assert errors["colour"]["error"] == "unknown_parameter"
    assert errors["prompt_text"]["error"] == "missing_no_default"


def test_text_must_be_a_string_and_url_must_be_http(http):
    typed = http.post(f"/v1/apps/{CAPTION_WRITER}/runs", json={"inputs": {"topic_text": 123}})
    assert typed.json()["details"][0]["error"] == "invalid_type"
    media = http.post(f"/v1/apps/{CARTOONIFY}/runs", json={"inputs": {"Upload": "file:///etc/passwd"}})
    assert media.status_code == 400 and media.json()["details"][0]["error"] == "invalid_media"


def test_option_labels_match_exactly(http):
    response = http.post(
        f"/v1/apps/{CAPTION_WRITER}/runs", json={"inputs": {"topic_text": "x", "tone": "playful"}}
    )
    assert response.json()["details"][0]["error"] == "invalid_option"


def test_get_run_and_unknown_ids(http):
    run = start(http)
    assert http.get(f"/v1/runs/{run['runId']}").json()["data"]["runId"] == run["runId"]
    missing = http.get("/v1/runs/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"
    assert http.get("/v1/apps/nope").json()["code"] == "NOT_FOUND"
    assert http.post("/v1/apps/nope/runs", json={"inputs": {}}).status_code == 404


def test_wait_returns_as_soon_as_terminal(emulator, http):
    emulator.configure(latency=0.3)
    run = start(http)
    began = time.monotonic()
    data = wait(http, run["runId"], timeout=30)
    assert data["status"] == "completed" and time.monotonic() - began < 2


def test_wait_timeout_is_200_with_sibling_flag(emulator, http):
    emulator.configure(hold=True)
    run = start(http)
    began = time.monotonic()
    response = http.get(f"/v1/runs/{run['runId']}/wait", params={"timeout": 1})
    assert 0.9 <= time.monotonic() - began < 3
    assert response.status_code == 200 and response.json()["timeout"] is True
    assert response.json()["data"]["status"] in ("queued", "running")


@pytest.mark.parametrize("value", ["0", "121", "abc", "1.5"])
def test_wait_rejects_timeouts_outside_1_to_120(http, value):
    response = http.get(f"/v1/runs/{start(http)['runId']}/wait", params={"timeout": value})
    assert response.status_code == 400 and response.json()["details"][0]["field"] == "timeout"


def test_cancel_is_idempotent(emulator, http):
    emulator.configure(hold=True)
    run = start(http)
    first = http.post(f"/v1/runs/{run['runId']}/cancel")
    second = http.post(f"/v1/runs/{run['runId']}/cancel")
    assert first.json()["data"] == second.json()["data"] == {"runId": run["runId"], "status": "cancelled"}
    emulator.configure(hold=False)
    done = start(http)
    wait(http, done["runId"])
    assert http.post(f"/v1/runs/{done['runId']}/cancel").json()["data"]["status"] == "completed"
    assert http.post("/v1/runs/nope/cancel").status_code == 404


def test_list_runs_filters_paging_and_order(http):
    t0 = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    time.sleep(0.01)
    ids = [start(http, CAPTION_WRITER, {"topic_text": f"list {i}"})["runId"] for i in range(5)]
    for run_id in ids:
        wait(http, run_id)
    body = http.get("/v1/runs", params={"appId": CAPTION_WRITER, "since": t0, "limit": 2}).json()
    assert body["pagination"] == {"total": 5, "limit": 2, "offset": 0}
    assert [r["runId"] for r in body["data"]] == ids[::-1][:2]  # newest first
    page2 = http.get(
        "/v1/runs", params={"appId": CAPTION_WRITER, "since": t0, "limit": 2, "offset": 2}
    ).json()
    assert [r["runId"] for r in page2["data"]] == ids[::-1][2:4]
    summary = body["data"][0]
    assert "outputs" not in summary and summary["source"] == "api_app" and summary["status"] == "completed"
    failed = http.get("/v1/runs", params={"status": "failed", "since": t0}).json()
    assert failed["data"] == [] and failed["pagination"]["total"] == 0
    assert http.get("/v1/runs").json()["pagination"]["limit"] == 25
    assert http.get("/v1/runs", params={"limit": 500}).json()["pagination"]["limit"] == 100


@pytest.mark.parametrize(
    "query", [{"status": "done"}, {"limit": "x"}, {"limit": "0"}, {"offset": "-1"}, {"since": "yesterday"}]
)
def test_list_runs_rejects_bad_queries(http, query):
    response = http.get("/v1/runs", params=query)
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"


def test_account_usage_and_signing_key(emulator, http):
    account = http.get("/v1/account").json()["data"]
    assert account["workspace"]["id"] == emulator.workspace_id and account["user"]["id"]
    emulator.configure(rate_limit=100)
    usage = http.get("/v1/account/usage").json()["data"]
    assert usage["rateLimit"] == {"limit": 100, "windowMs": 60000}
    assert usage["credits"]["balance"] == usage["credits"]["totalEarned"] - usage["credits"]["totalSpent"]
    keys = http.get("/v1/webhooks/signing-key").json()
    assert set(keys) == {"keys"}
    jwk = keys["keys"][0]
    assert {k: jwk[k] for k in ("kty", "crv", "kid", "use", "alg")} == {
        "kty": "OKP",
        "crv": "Ed25519",
        "kid": "lamina-webhook-v1",
        "use": "sig",
        "alg": "EdDSA",
    }
    assert len(jwk["x"]) == 43 and "=" not in jwk["x"]


def test_intermediate_executions_aliases(http):
    response = http.post(f"/v1/apps/{CAPTION_WRITER}/executions", json={"inputs": {"topic_text": "alias"}})
    assert response.status_code == 202
    run_id = response.json()["data"]["executionId"]
    data = http.get(f"/v1/executions/{run_id}").json()["data"]
    assert data["executionId"] == run_id and "runId" not in data
    assert wait(http, run_id)["runId"] == run_id


def test_every_response_carries_a_request_id(http, anon):
    for response in (http.get("/v1/apps"), anon.get("/v1/apps"), http.get("/nowhere"), http.get("/media/x")):
        assert response.headers["x-request-id"]
    err = anon.get("/v1/apps")
    assert err.json()["requestId"] == err.headers["x-request-id"]
