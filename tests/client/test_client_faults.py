"""Faults injected into the real emulator: what the client survives, what it reports, what it never does."""

from __future__ import annotations

import socket
import time
import uuid

import pytest

from lamina_jupyter import (
    AuthenticationError,
    Client,
    LaminaConnectionError,
    ResponseError,
    ServerError,
    WaitTimeout,
)
from lamina_jupyter.emulator import Emulator

CAPTION = "3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a04"
RUN_ROUTE = "GET /v1/runs/{id}"


def started(lamina, text="faults"):
    return lamina.start(CAPTION, {"Topic": f"{text} {uuid.uuid4().hex[:8]}"})


def route_count(emulator, route):
    return emulator.stats["requests_by_route"].get(route, 0)


def test_429_with_retry_after_is_honoured(make_lamina, emulator):
    lamina = make_lamina()
    run = started(lamina)
    emulator.reset_stats()
    emulator.inject("status", route="GET /v1/runs/*", status=429, code="RATE_LIMITED", retry_after=1)
    t0 = time.monotonic()
    assert lamina.get_run(run.id).id == run.id
    assert time.monotonic() - t0 >= 0.95
    assert route_count(emulator, RUN_ROUTE) == 2


def test_plain_text_429_is_retried(make_lamina, emulator):
    lamina = make_lamina()
    run = started(lamina)
    emulator.reset_stats()
    emulator.inject("status", route="GET /v1/runs/*", status=429, plain_text=True)
    assert lamina.get_run(run.id).id == run.id
    assert route_count(emulator, RUN_ROUTE) == 2


def test_503_burst_then_success(make_lamina, emulator):
    lamina = make_lamina()
    run = started(lamina)
    emulator.reset_stats()
    emulator.inject("status", route="GET /v1/runs/*", status=503, times=2)
    assert lamina.get_run(run.id).id == run.id
    assert route_count(emulator, RUN_ROUTE) == 3


def test_5xx_every_time_becomes_a_server_error(client, emulator):
    run = started(client)
    emulator.inject("html", route="GET /v1/runs/*", status=502, times=None)
    with pytest.raises(ServerError) as info:
        client.get_run(run.id)
    assert info.value.status_code == 502 and "<html" not in str(info.value)


@pytest.mark.parametrize("api", ["v1", "legacy"])
def test_connection_resets_mid_poll_are_survived(make_lamina, emulator, api):
    lamina = make_lamina(api=api, wait_strategy="poll")
    run = started(lamina, "resets")
    emulator.inject("reset", route="GET /*/*/*", times=3)
    assert lamina.wait(run, timeout=30).status == "completed"


def test_malformed_json_is_retried_then_reported(client, emulator):
    run = started(client)
    emulator.inject("malformed_json", route="GET /v1/runs/*")
    assert client.get_run(run.id).id == run.id
    emulator.inject("malformed_json", route="GET /v1/runs/*", times=3)
    with pytest.raises(ResponseError) as info:
        client.get_run(run.id)
    assert info.value.request_id and "unreadable" in str(info.value)


def test_accept_then_drop_on_start_is_adopted_not_resent(make_lamina):
    # A private emulator: reconciliation reads the run list, which other tests' runs would crowd.
    with Emulator(latency=0.1, jitter=0.0, rate_limit=None) as emu:
        lamina = make_lamina(base_url=emu.base_url, api_key=emu.api_key)
        emu.inject("accept_then_drop", route="POST /v1/apps/*/runs")
        run = lamina.start(CAPTION, {"Topic": "dropped on the way back"})
        assert emu.stats["runs_created"] == 1 and emu.stats["duplicate_starts"] == 0
        assert run.id == emu.runs()[0]["run_id"]
        assert lamina.wait(run, timeout=30).status == "completed"


def test_stuck_run_times_out_naming_the_run_and_is_recoverable(make_lamina, emulator):
    lamina = make_lamina()
    emulator.configure(hold=True)
    run = started(lamina, "held")
    with pytest.raises(WaitTimeout) as info:
        lamina.wait(run, timeout=1.5)
    assert info.value.run_id == run.id and run.id in str(info.value)
    assert info.value.last_status in ("queued", "running") and info.value.elapsed >= 1.5
    emulator.configure(hold=False)
    assert lamina.wait(run.id, timeout=30).status == "completed"


def test_dropped_stream_falls_back_to_polling(make_lamina, emulator):
    lamina = make_lamina()
    run = started(lamina, "drop stream")
    emulator.inject("drop_stream", route="GET /v1/runs/*/stream", after_events=1)
    states = lamina.stream(run)
    assert states[-1].status == "completed"


def test_wrong_key_is_an_authentication_error_without_the_key(emulator):
    with Client(api_key="lma_WRONGKEY_0123456789", base_url=emulator.base_url) as c, \
            pytest.raises(AuthenticationError) as info:
        c.list_apps()
    assert info.value.status_code == 401 and "settings?tab=api" in str(info.value)
    assert "WRONGKEY" not in str(info.value)


def test_server_down_names_the_base_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with Client(api_key="lma_test_0123456789", base_url=url, max_retries=1) as c, \
            pytest.raises(LaminaConnectionError, match=url):
        c.list_apps()
