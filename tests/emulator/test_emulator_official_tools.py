"""Details the official TypeScript CLI and SDK rely on (found by running them against the emulator)."""

from __future__ import annotations

from emulator_helpers import start, wait
from suite import PRODUCT_SHOT, TEXT_TO_IMAGE


def test_every_404_says_not_found(emulator, http):
    """The CLI classifies an error as "missing" on the words "not found" in its message."""
    missing = [
        ("GET", "/v1/nothing-here"),
        ("PATCH", "/v1/runs"),
        ("GET", "/api/nothing-here"),
        ("GET", "/v1/apps/00000000-0000-0000-0000-000000000000"),
        ("GET", "/v1/runs/00000000-0000-0000-0000-000000000000"),
        ("GET", "/media/nothing.png"),
        ("PUT", "/uploads/unknown-token"),
    ]
    for method, path in missing:
        response = http.request(method, path)
        assert response.status_code == 404, (method, path)
        assert "not found" in response.json()["error"], (method, path, response.json())


def test_some_sample_apps_are_private_and_still_usable(http):
    """Own-workspace apps can be private (`isPublic: false`); listing and running them still works."""
    for listing in ("/v1/apps", "/api/apps"):
        flags = {a["appId"]: a["isPublic"] for a in http.get(listing).json()["data"]}
        assert flags[TEXT_TO_IMAGE] is True and flags[PRODUCT_SHOT] is False, listing
    run = start(http, PRODUCT_SHOT, inputs={"product_text": "a mug"})
    assert wait(http, run["runId"])["status"] == "completed"


def test_workflow_node_label_is_its_node_type(http):
    nodes = http.get(f"/v1/apps/{PRODUCT_SHOT}/workflow").json()["data"]["nodes"]
    assert nodes and all(n["label"] == n["type"] for n in nodes), nodes
    assert {n["type"] for n in nodes} == {"aiDesignerNode", "llmNode"}
