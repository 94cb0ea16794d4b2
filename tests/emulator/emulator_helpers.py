"""Constants and raw-httpx helpers shared by the emulator tests."""

from __future__ import annotations

import httpx
from suite import TEXT_TO_IMAGE


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
