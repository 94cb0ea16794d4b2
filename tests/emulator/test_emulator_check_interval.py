"""/wait and /stream see a change only at the server's next check (every 2 s on the real service,
lamina-api.md §4.7-4.8), never at once: completion shows up to one interval late."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
from emulator_helpers import start
from suite import PRODUCT_SHOT, TEXT_TO_IMAGE

from lamina_jupyter.emulator import Emulator
from lamina_jupyter.emulator.__main__ import build, parse_args


def timed_wait(http: httpx.Client, run_id: str, timeout: int = 10) -> tuple[float, dict]:
    """(seconds until /wait answered, its body)."""
    began = time.monotonic()
    body = http.get(f"/v1/runs/{run_id}/wait", params={"timeout": timeout}).json()
    return time.monotonic() - began, body


def timed_events(http: httpx.Client, run_id: str) -> list[tuple[float, str, dict]]:
    """Every SSE event as (seconds since connecting, name, data)."""
    events, name = [], ""
    began = time.monotonic()
    with http.stream("GET", f"/v1/runs/{run_id}/stream") as response:
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((time.monotonic() - began, name, json.loads(line[6:])))
    return events


def until_completed(http: httpx.Client, run_id: str, timeout: float = 10.0) -> None:
    """Poll a plain GET (it reads the run now) until the run is done, however late load makes that."""
    deadline = time.monotonic() + timeout
    while http.get(f"/v1/runs/{run_id}").json()["data"]["status"] != "completed":
        assert time.monotonic() < deadline, f"run {run_id} did not complete within {timeout} s"
        time.sleep(0.02)


def test_the_documented_default_sees_a_completion_at_the_2_s_check():
    """A run done after 0.6 s: /wait and /stream, both opened at once, report it at ~2 s."""
    with Emulator(latency=0.6, jitter=0.0, rate_limit=None) as emu:
        assert emu.settings.check_interval == 2.0
        headers = {"x-api-key": emu.api_key}
        with httpx.Client(base_url=emu.base_url, headers=headers, timeout=10) as http:
            waited, streamed = {}, {}
            run_id = start(http, TEXT_TO_IMAGE)["runId"]
            stream = threading.Thread(target=lambda: streamed.update(events=timed_events(http, run_id)))
            stream.start()
            waited["took"], waited["body"] = timed_wait(http, run_id)
            stream.join(10)
            assert emu.runs()[0]["status"] == "completed"
    assert waited["body"]["data"]["status"] == "completed"
    assert 1.9 <= waited["took"] < 3.0, waited["took"]
    events = streamed["events"]
    assert [n for _, n, _ in events] == ["progress", "complete"]  # running and done: one check
    assert events[0][0] < 0.5 and 1.9 <= events[-1][0] < 3.0, events


def test_the_interval_is_an_option_and_scales_with_time_factor(emulator, http):
    emulator.configure(check_interval=0.6)  # runs take 0.15 s
    took, body = timed_wait(http, start(http)["runId"])
    assert body["data"]["status"] == "completed" and 0.55 <= took < 1.0, took
    emulator.configure(check_interval=2.0, time_factor=0.2)  # checks every 0.4 s
    took, body = timed_wait(http, start(http)["runId"])
    assert body["data"]["status"] == "completed" and 0.38 <= took < 0.75, took
    emulator.configure(check_interval=0.0)  # at once: only for tests that do not study timing
    took, body = timed_wait(http, start(http)["runId"])
    assert body["data"]["status"] == "completed" and took < 0.4, took


def test_a_run_already_done_is_answered_at_the_first_check(emulator, http):
    emulator.configure(check_interval=5.0)
    run_id = start(http)["runId"]
    until_completed(http, run_id)
    took, body = timed_wait(http, run_id)
    assert body["data"]["status"] == "completed" and took < 0.5
    events = timed_events(http, run_id)
    assert [n for _, n, _ in events] == ["complete"] and events[0][0] < 0.5


def test_wait_window_ending_before_the_check_reports_the_last_checked_state(emulator, http):
    """The run finishes 0.15 s in, the next check would be at 2 s, the window closes at 1 s: the
    server has not seen the completion, so the answer is the state it last read, with timeout."""
    emulator.configure(check_interval=2.0)
    run_id = start(http)["runId"]
    took, body = timed_wait(http, run_id, timeout=1)
    assert 0.95 <= took < 1.5, took
    assert body["timeout"] is True and body["data"]["status"] in ("queued", "running")
    assert http.get(f"/v1/runs/{run_id}").json()["data"]["status"] == "completed"  # a plain GET reads now


def test_stream_reports_changes_only_at_its_checks(emulator, http):
    """Product Shot Set changes five times in 0.6 s; checks every 0.8 s see the end at the first."""
    emulator.configure(check_interval=0.8, latency=0.4)
    run_id = start(http, PRODUCT_SHOT, {"product_text": "a mug"})["runId"]
    events = timed_events(http, run_id)
    assert [n for _, n, _ in events] == ["progress", "complete"], events
    assert 0.75 <= events[-1][0] < 1.5 and events[-1][2]["progress"]["completedOutputs"] == 3


def test_stream_sends_each_change_seen_at_a_later_check(emulator, http):
    """Running after 0.21 s and done at 1.05 s: reported as running, then done at the 1.2 s check."""
    emulator.configure(check_interval=0.3, latency=1.05)
    events = timed_events(http, start(http)["runId"])
    names = [n for _, n, _ in events]
    assert names[0] == "progress" and names[-1] == "complete"
    assert "running" in [d["status"] for _, n, d in events if n == "progress"]
    assert 1.19 <= events[-1][0] < 1.5, events


@pytest.mark.parametrize("bad", [-1, "2s", float("inf")])
def test_a_bad_interval_is_refused(emulator, bad):
    with pytest.raises(ValueError, match="check_interval"):
        emulator.configure(check_interval=bad)


def test_command_line_flags_reach_the_emulator():
    emu = build(parse_args(["--check-interval", "0.5", "--rate-limit-headers", "always"]))
    assert (emu.settings.check_interval, emu.settings.rate_limit_headers) == (0.5, "always")
    default = build(parse_args([]))
    assert (default.settings.check_interval, default.settings.rate_limit_headers) == (2.0, "on-429")
