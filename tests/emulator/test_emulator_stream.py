"""SSE: progress on every change, one terminal event, pings, the (scaled) 10-minute cap."""

from __future__ import annotations

import json

from emulator_helpers import start, wait
from suite import PRODUCT_SHOT as PRODUCT_SHOTS
from suite import TEXT_TO_IMAGE


def read_events(http, run_id: str) -> list[tuple[str, object]]:
    events, name = [], None
    with http.stream("GET", f"/v1/runs/{run_id}/stream") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
    return events


def test_progress_until_complete(emulator, http):
    emulator.configure(latency=0.4)
    run = start(http, PRODUCT_SHOTS, {"product_text": "stream me"})
    events = read_events(http, run["runId"])
    names = [n for n, _ in events]
    assert names[-1] == "complete" and set(names[:-1]) == {"progress"}
    completed_counts = [d["progress"]["completedOutputs"] for _, d in events]
    assert completed_counts == sorted(completed_counts) and completed_counts[-1] == 3
    assert {d["status"] for n, d in events if n == "progress"} >= {"running"}
    assert events[-1][1]["status"] == "completed" and events[-1][1]["runId"] == run["runId"]
    assert len(names) >= 4  # queued/running changes plus one per output


def test_terminal_run_gets_exactly_one_event(http):
    done = wait(http, start(http)["runId"])
    assert [n for n, _ in read_events(http, done["runId"])] == ["complete"]
    failed = wait(http, start(http, inputs={"prompt_text": "#fail"})["runId"])
    events = read_events(http, failed["runId"])
    assert [n for n, _ in events] == ["error"] and events[0][1]["errorMessage"]


def test_cancel_mid_stream_sends_error(emulator, http):
    run = start(http, inputs={"prompt_text": "#stuck"})
    names = []
    with http.stream("GET", f"/v1/runs/{run['runId']}/stream") as response:
        for line in response.iter_lines():
            if line.startswith("event: "):
                names.append(line[7:])
                if len(names) == 1:
                    http.post(f"/v1/runs/{run['runId']}/cancel")
    assert names[0] == "progress" and names[-1] == "error"


def test_pings_then_timeout_when_scaled(emulator, http):
    emulator.configure(time_factor=0.002)  # ping every 30 ms, cap after 1.2 s
    events = read_events(http, start(http, inputs={"prompt_text": "#stuck"})["runId"])
    names = [n for n, _ in events]
    assert names[-1] == "timeout" and events[-1][1] == {"message": "Stream timeout after 10 minutes"}
    pings = [d for n, d in events if n == "ping"]
    assert len(pings) >= 5 and all(isinstance(p, int) and p > 1_600_000_000_000 for p in pings)


def test_unknown_run_is_404_envelope(http):
    response = http.get("/v1/runs/nope/stream")
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"


def test_stream_is_rate_limited_like_any_call(emulator, http):
    emulator.configure(rate_limit=50, rate_limit_headers="always")
    run = wait(http, start(http, TEXT_TO_IMAGE)["runId"])
    with http.stream("GET", f"/v1/runs/{run['runId']}/stream") as response:
        assert response.headers["ratelimit-limit"] == "50" and response.headers["x-request-id"]
