"""The legacy /api family, authentication variants and every documented error code."""

from __future__ import annotations

import pytest
from suite import CARTOONIFY, TEXT_TO_IMAGE


def test_legacy_apps_and_real_required_flags(http):
    apps = http.get("/api/apps", params={"search": "prompt into", "limit": 5}).json()["data"]
    assert apps == [
        {
            "appId": TEXT_TO_IMAGE,
            "name": "Text to Image",
            "description": "Turn a prompt into an image in the chosen style.",
            "isPublic": True,
        }
    ]
    params = http.get(f"/api/apps/{TEXT_TO_IMAGE}").json()["data"]["parameters"]
    assert [(p["name"], p["required"]) for p in params] == [
        ("Prompt", True),
        ("Style", False),
        ("Aspect Ratio", False),
    ]
    assert all(
        p["required"] is False for p in http.get(f"/api/apps/{CARTOONIFY}").json()["data"]["parameters"]
    )


def test_legacy_execution_uses_execution_id(http):
    response = http.post(f"/api/apps/{TEXT_TO_IMAGE}/executions", json={"inputs": {"Prompt": "old school"}})
    assert response.status_code == 202
    run_id = response.json()["data"]["executionId"]
    data = http.get(f"/api/executions/{run_id}").json()["data"]
    assert data["executionId"] == run_id and "runId" not in data
    assert http.get(f"/v1/runs/{run_id}/wait").json()["data"]["status"] == "completed"


def test_legacy_errors_are_error_plus_string_details(http, anon):
    bad = http.post(
        f"/api/apps/{TEXT_TO_IMAGE}/executions", json={"inputs": {"Prompt": "x", "Style": "Mars"}}
    )
    assert bad.status_code == 400
    assert bad.json() == {
        "error": "Invalid inputs",
        "details": [
            '"Style": invalid option "Mars". Must be one of: Photographic, Watercolor, Neon, Pixel Art'
        ],
    }
    assert anon.get("/api/apps").json() == {"error": "Missing API key"}
    assert http.get("/api/executions/nope").json() == {"error": "Execution not found"}
    assert http.get("/api/apps/nope").json() == {"error": "App not found"}


def test_legacy_signing_key(http):
    assert http.get("/api/webhooks/signing-key").json() == http.get("/v1/webhooks/signing-key").json()


def test_key_in_x_api_key_or_bearer(emulator, anon):
    assert anon.get("/v1/apps", headers={"x-api-key": emulator.api_key}).status_code == 200
    assert anon.get("/v1/apps", headers={"Authorization": f"Bearer {emulator.api_key}"}).status_code == 200


@pytest.mark.parametrize(
    "headers", [{}, {"x-api-key": ""}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}]
)
def test_missing_key(anon, headers):
    response = anon.get("/v1/runs", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "AUTH_MISSING_KEY" and response.json()["error"] == "Missing API key"


@pytest.mark.parametrize("key", ["lma_wrong", "lma_demo_" + "0" * 24, "ключ"])
def test_invalid_key(anon, key):
    response = anon.get("/v1/runs", headers={"Authorization": f"Bearer {key}".encode()})
    assert response.status_code == 401
    assert response.json() == {
        "error": "Invalid API key",
        "code": "AUTH_INVALID_KEY",
        "retryable": False,
        "requestId": response.headers["x-request-id"],
    }


def test_workspace_header_must_match(emulator, http):
    assert http.get("/v1/apps", headers={"x-workspace-id": emulator.workspace_id}).status_code == 200
    response = http.get("/v1/apps", headers={"x-workspace-id": "another"})
    assert response.status_code == 403 and response.json()["code"] == "FORBIDDEN"
    assert response.json()["error"] == "Workspace header does not match API key workspace scope"


def test_media_and_uploads_need_no_key(http, anon):
    run = http.post(f"/v1/apps/{TEXT_TO_IMAGE}/runs", json={"inputs": {"prompt_text": "cdn"}}).json()["data"]
    url = http.get(f"/v1/runs/{run['runId']}/wait").json()["data"]["outputs"][0]["value"]
    assert anon.get(url).status_code == 200


def test_webhook_url_must_be_http(http):
    for bad in ("javascript:alert(1)", "ftp://x/y", "not a url", "http://"):
        response = http.post(
            f"/v1/apps/{TEXT_TO_IMAGE}/runs", params={"webhook": bad}, json={"inputs": {"prompt_text": "x"}}
        )
        assert response.status_code == 400 and response.json()["code"] == "WEBHOOK_INVALID_URL"


EXPECTED = {
    "AUTH_MISSING_KEY": (401, False),
    "AUTH_INVALID_KEY": (401, False),
    "AUTH_INVALID_CONTEXT": (401, False),
    "AUTH_FAILED": (500, True),
    "FORBIDDEN": (403, False),
    "NOT_FOUND": (404, False),
    "VALIDATION_ERROR": (400, False),
    "RATE_LIMITED": (429, True),
    "WEBHOOK_INVALID_URL": (400, False),
    "WEBHOOK_INVALID_SECRET": (401, False),
    "RESOURCE_UNAVAILABLE": (503, True),
    "INTERNAL_ERROR": (500, True),
}


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_every_documented_code_can_be_injected(emulator, http, code):
    status, retryable = EXPECTED[code]
    emulator.inject("status", route="GET /v1/apps", status=status, code=code)
    response = http.get("/v1/apps")
    body = response.json()
    assert response.status_code == status
    assert body["code"] == code and body["retryable"] is retryable and body["requestId"] and body["error"]
    assert http.get("/v1/apps").status_code == 200  # times=1 by default


def test_injected_retry_after_and_plain_text_429(emulator, http):
    emulator.inject("status", route="GET /v1/runs", status=429, code="RATE_LIMITED", retry_after=7)
    response = http.get("/v1/runs")
    assert response.headers["retry-after"] == "7" and response.json()["retryAfter"] == 7
    emulator.inject("status", route="GET /v1/runs", status=429, plain_text=True)
    plain = http.get("/v1/runs")
    assert plain.status_code == 429 and plain.headers["content-type"].startswith("text/plain")
    assert plain.text == "Too many requests from this IP, please try again in a minute"
    with pytest.raises(ValueError):
        plain.json()


def test_unknown_routes_and_methods_get_the_envelope(http):
    for response in (http.get("/v2/whatever"), http.delete("/v1/apps"), http.put("/v1/runs/x/cancel")):
        assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"


def test_status_fault_fills_status_or_code_from_the_other(emulator, http):
    emulator.inject("status", route="GET /v1/apps", code="NOT_FOUND")
    emulator.inject("status", route="GET /v1/apps", status=429)
    emulator.inject("status", route="GET /v1/apps")
    first, second, third = (http.get("/v1/apps") for _ in range(3))
    assert (first.status_code, first.json()["code"]) == (404, "NOT_FOUND")
    assert (second.status_code, second.json()["code"]) == (429, "RATE_LIMITED")
    assert (third.status_code, third.json()["code"]) == (503, "RESOURCE_UNAVAILABLE")


def test_faults_on_legacy_routes_use_the_legacy_body(emulator, http):
    emulator.inject("status", route="GET /api/apps", status=503)
    response = http.get("/api/apps")
    assert response.status_code == 503 and set(response.json()) == {"error"}
