"""Faults injected into the real emulator: what the client survives, what it reports, what it never does.

The named, counted fault matrix (429s, 503 bursts, resets mid-poll, lost start answers, stuck runs,
dropped streams, refused connections) lives in tests/reliability; these are the remaining small checks."""

from __future__ import annotations

import uuid

import pytest

from lamina_jupyter import AuthenticationError, Client, ResponseError, ServerError

CAPTION = "3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a04"


def started(lamina, text="faults"):
    return lamina.start(CAPTION, {"Topic": f"{text} {uuid.uuid4().hex[:8]}"})


def test_5xx_every_time_becomes_a_server_error(client, emulator):
    run = started(client)
    emulator.inject("html", route="GET /v1/runs/*", status=502, times=None)
    with pytest.raises(ServerError) as info:
        client.get_run(run.id)
    assert info.value.status_code == 502 and "<html" not in str(info.value)


def test_malformed_json_is_retried_then_reported(client, emulator):
    run = started(client)
    emulator.inject("malformed_json", route="GET /v1/runs/*")
    assert client.get_run(run.id).id == run.id
    emulator.inject("malformed_json", route="GET /v1/runs/*", times=3)
    with pytest.raises(ResponseError) as info:
        client.get_run(run.id)
    assert info.value.request_id and "unreadable" in str(info.value)


def test_wrong_key_is_an_authentication_error_without_the_key(emulator):
    with Client(api_key="lma_WRONGKEY_0123456789", base_url=emulator.base_url) as c, \
            pytest.raises(AuthenticationError) as info:
        c.list_apps()
    assert info.value.status_code == 401 and "settings?tab=api" in str(info.value)
    assert "WRONGKEY" not in str(info.value)
