"""`/_emulator/config` and `Emulator.configure`: every value is checked before any is applied."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "changes",
    [
        {"latency": -5},
        {"latency": "fast"},
        {"jitter": 0.5, "failure_rate": 2},
        {"time_factor": 0},
        {"rate_limit": 0},
        {"rate_limit": 2.5},
        {"hold": "yes"},
        {"latency": 0.5, "nonsense": 1},
    ],
)
def test_a_refused_config_changes_nothing(emulator, http, changes):
    before = http.get("/_emulator/config").json()["data"]
    refused = http.post("/_emulator/config", json=changes)
    assert refused.status_code == 400 and refused.json()["code"] == "VALIDATION_ERROR"
    assert http.get("/_emulator/config").json()["data"] == before
    with pytest.raises((TypeError, ValueError)):
        emulator.configure(**changes)
    assert http.get("/_emulator/config").json()["data"] == before
    assert http.get("/v1/apps").status_code == 200  # still serving with the old values


def test_an_accepted_config_applies_every_value(emulator, http):
    changed = http.post("/_emulator/config", json={"latency": 0.25, "jitter": 0.1, "rate_limit": 50})
    assert changed.status_code == 200
    assert {k: changed.json()["data"][k] for k in ("latency", "jitter", "rate_limit")} == {
        "latency": 0.25,
        "jitter": 0.1,
        "rate_limit": 50,
    }
