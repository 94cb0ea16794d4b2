"""Constants and raw-httpx helpers shared by the emulator tests."""

from __future__ import annotations

import httpx

TEXT_TO_IMAGE = "3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a01"
CARTOONIFY = "3f68debe-df0a-4fc9-bdd3-9d45a4160587"
PRODUCT_SHOTS = "3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a03"
CAPTION_WRITER = "3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a04"
TEASER_CLIP = "3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a05"


def start(http: httpx.Client, app_id: str = TEXT_TO_IMAGE, inputs=None, **params) -> dict:
    """Start a run and return its data (asserting the 202)."""
    body = {"inputs": inputs if inputs is not None else {"prompt_text": "a red fox"}}
    response = http.post(f"/v1/apps/{app_id}/runs", json=body, params=params)
    assert response.status_code == 202, response.text
    return response.json()["data"]


def wait(http: httpx.Client, run_id: str, timeout: int = 10) -> dict:
    response = http.get(f"/v1/runs/{run_id}/wait", params={"timeout": timeout})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "timeout" not in body, body
    return body["data"]
