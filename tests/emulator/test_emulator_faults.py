"""Every `inject` kind, observed from the client side with raw httpx."""

from __future__ import annotations

import json

import httpx
import pytest
from emulator_helpers import TEXT_TO_IMAGE, start

# An RST before the response is reported as ReadError ("Connection reset by peer") or, when the
# client notices the closed socket first, RemoteProtocolError ("Server disconnected"): both mean
# "no answer", and a client must treat them alike.
DROPPED = (httpx.ReadError, httpx.RemoteProtocolError)


def test_reset_is_an_rst_before_processing(emulator, http):
    emulator.inject("reset", route="POST /v1/apps/*/runs")
    before = emulator.stats["runs_created"]
    with pytest.raises(DROPPED):
        http.post(f"/v1/apps/{TEXT_TO_IMAGE}/runs", json={"inputs": {"prompt_text": "x"}})
    assert emulator.stats["runs_created"] == before  # not processed
    assert http.get("/v1/apps").status_code == 200  # and the server keeps serving


def test_reset_with_fin_is_server_disconnected(emulator, http):
    emulator.inject("reset", route="GET /v1/apps", fin=True)
    with pytest.raises(httpx.RemoteProtocolError, match="disconnected without sending a response"):
        http.get("/v1/apps")


def test_accept_then_drop_creates_the_run_but_never_answers(emulator, http):
    emulator.inject("accept_then_drop", route="POST /v1/apps/*/runs")
    before = len(emulator.runs())
    with pytest.raises(DROPPED):
        http.post(f"/v1/apps/{TEXT_TO_IMAGE}/runs", json={"inputs": {"prompt_text": "lost answer"}})
    runs = emulator.runs()
    assert len(runs) == before + 1 and runs[-1]["inputs"] == {"prompt_text": "lost answer"}
    listed = http.get("/v1/runs", params={"appId": TEXT_TO_IMAGE, "limit": 1}).json()["data"]
    assert listed[0]["runId"] == runs[-1]["run_id"]  # reconcilable through the list endpoint


def test_delay_triggers_client_read_timeout(emulator, http):
    emulator.inject("delay", route="GET /v1/apps", seconds=0.6)
    with pytest.raises(httpx.ReadTimeout):
        http.get("/v1/apps", timeout=0.2)
    emulator.inject("delay", route="GET /v1/apps", seconds=0.2)
    assert http.get("/v1/apps").status_code == 200  # a slow but successful answer


def test_malformed_json(emulator, http):
    emulator.inject("malformed_json", route="GET /v1/runs/*")
    response = http.get(f"/v1/runs/{start(http)['runId']}")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_truncated_body_is_a_read_error(emulator, http):
    emulator.inject("truncated", route="GET /v1/apps")
    with pytest.raises(DROPPED):
        http.get("/v1/apps")


def test_html_proxy_page(emulator, http):
    emulator.inject("html", route="GET /v1/apps", status=504)
    response = http.get("/v1/apps")
    assert response.status_code == 504 and response.headers["content-type"].startswith("text/html")
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_drop_stream_cleanly_and_abruptly(emulator, http):
    run = start(http, inputs={"prompt_text": "#stuck"})
    emulator.inject("drop_stream", route="GET /v1/runs/*/stream", after_events=1)
    with http.stream("GET", f"/v1/runs/{run['runId']}/stream") as response:
        events = [line for line in response.iter_lines() if line.startswith("event:")]
    assert events == ["event: progress"]
    emulator.inject("drop_stream", route="GET /v1/runs/*/stream", after_events=1, abrupt=True)
    with pytest.raises(DROPPED), http.stream("GET", f"/v1/runs/{run['runId']}/stream") as response:
        for _ in response.iter_lines():
            pass
    http.post(f"/v1/runs/{run['runId']}/cancel")


def test_faults_are_fifo_counted_and_route_scoped(emulator, http):
    emulator.inject("status", route="GET /v1/apps", times=2, status=503)
    emulator.inject("status", route="GET /v1/apps", status=500, code="INTERNAL_ERROR")
    assert http.get("/v1/account").status_code == 200  # other routes untouched
    assert [http.get("/v1/apps").status_code for _ in range(4)] == [503, 503, 500, 200]


def test_until_cleared_and_clear_faults(emulator, http):
    emulator.inject("status", route="*", times=None, status=503)
    assert [http.get("/v1/runs").status_code for _ in range(3)] == [503] * 3
    emulator.clear_faults()
    assert http.get("/v1/runs").status_code == 200


def test_bad_fault_specs_are_refused(emulator):
    with pytest.raises(ValueError, match="unknown fault kind"):
        emulator.inject("explode")
    with pytest.raises(ValueError, match="takes no parameter"):
        emulator.inject("reset", seconds=3)


def test_admin_surface_drives_faults_config_and_stats(emulator, http, anon):
    created = http.post("/_emulator/faults", json={"kind": "status", "route": "GET /v1/apps", "status": 503})
    assert created.status_code == 201
    assert http.get("/v1/apps").status_code == 503
    assert http.post("/_emulator/config", json={"latency": 0.05}).json()["data"]["latency"] == 0.05
    assert http.get("/_emulator/config").json()["data"]["latency"] == 0.05
    assert http.get("/_emulator/stats").json()["data"]["requests"] >= 1
    assert isinstance(http.get("/_emulator/runs").json()["data"], list)
    assert http.get("/_emulator/webhooks").status_code == 200
    http.post("/_emulator/faults", json={"kind": "reset", "times": None})
    assert http.get("/_emulator/faults").json()["data"][0]["kind"] == "reset"
    assert http.delete("/_emulator/faults").status_code == 200
    assert http.get("/v1/apps").status_code == 200
    assert http.post("/_emulator/stats/reset").json()["data"]["requests"] == 0
    assert anon.get("/_emulator/stats").status_code == 401
    bad = http.post("/_emulator/faults", json={"kind": "nope"})
    assert bad.status_code == 400 and bad.json()["code"] == "VALIDATION_ERROR"
    assert http.post("/_emulator/config", json={"latency": -1}).status_code == 400
