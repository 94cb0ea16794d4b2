"""What goes on the wire: the key only as Authorization: Bearer to the Lamina origin, never elsewhere."""

from __future__ import annotations

import json

import httpx

from lamina_jupyter import Client

KEY = "lma_wiretest_0123456789abcdef"
BASE = "https://lamina.test"


def test_key_goes_only_as_bearer_to_the_lamina_origin():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v1/assets/upload-urls":
            slot = {"uploadUrl": "https://storage.test/put/1", "assetUrl": "https://cdn.test/1.png",
                    "contentTypeHint": "image/png"}
            return httpx.Response(200, json={"data": {"uploads": [slot]}})
        if request.url.host == "storage.test":
            return httpx.Response(200)
        return httpx.Response(200, json={"data": []})

    with Client(api_key=KEY, base_url=BASE, transport=httpx.MockTransport(handler)) as c:
        c.list_apps(search="x")
        assert c.upload(b"\x89PNG data") == "https://cdn.test/1.png"
    lamina = [r for r in seen if r.url.host == "lamina.test"]
    storage = [r for r in seen if r.url.host == "storage.test"]
    assert len(lamina) == 2 and len(storage) == 1
    for r in lamina:
        assert r.headers["authorization"] == f"Bearer {KEY}"
    for r in seen:
        assert "x-api-key" not in r.headers and KEY not in str(r.url)
        assert KEY not in repr(r) and KEY not in repr(r.headers)
    assert "authorization" not in storage[0].headers
    assert json.loads(lamina[1].content) == {"files": [{"filename": "upload.png", "mediaType": "image"}]}


def test_wait_read_timeout_is_window_plus_15_s():
    timeouts = []

    def handler(request: httpx.Request) -> httpx.Response:
        timeouts.append((request.url.path, request.extensions["timeout"]))
        return httpx.Response(200, json={"data": {"runId": "r1", "status": "completed"}})

    with Client(api_key=KEY, base_url=BASE, transport=httpx.MockTransport(handler)) as c:
        assert c.wait("r1", timeout=120).status == "completed"  # window 60 s; nothing clipped to the deadline
    assert timeouts == [("/v1/runs/r1/wait", {"connect": 5.0, "read": 75.0, "write": 30.0, "pool": 10.0})]
