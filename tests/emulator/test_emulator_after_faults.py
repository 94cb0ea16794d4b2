"""Faults the client's retry rules once assumed cannot happen (issue 11, part 2), and what the client
does in each: a 503/504 answered after the run was created, and a run list that lags behind."""

from __future__ import annotations

import time

import pytest
from emulator_helpers import TEXT_TO_IMAGE
from teammates import private_emulator

from lamina_jupyter import Client
from lamina_jupyter.core.errors import UncertainStartError

START = "POST /v1/apps/*/runs"
PROMPT = {"prompt_text": "after the fact"}


@pytest.mark.parametrize("status", [503, 504])
def test_status_after_true_creates_the_run_then_answers_the_error(emulator, http, status):
    emulator.inject("status", route=START, status=status, after=True)
    before = len(emulator.runs())
    reply = http.post(f"/v1/apps/{TEXT_TO_IMAGE}/runs", json={"inputs": PROMPT})
    runs = emulator.runs()
    assert reply.status_code == status and len(runs) == before + 1 and runs[-1]["inputs"] == PROMPT


def test_status_without_after_still_answers_before_the_handler(emulator, http):
    emulator.inject("status", route=START, status=503)
    before = len(emulator.runs())
    assert http.post(f"/v1/apps/{TEXT_TO_IMAGE}/runs", json={"inputs": PROMPT}).status_code == 503
    assert len(emulator.runs()) == before


def test_listing_lag_hides_new_runs_from_the_list_only(emulator, http):
    emulator.inject("listing_lag", route="GET /v1/runs", times=None, seconds=0.5)
    run_id = http.post(f"/v1/apps/{TEXT_TO_IMAGE}/runs", json={"inputs": PROMPT}).json()["data"]["runId"]
    listed = [r["runId"] for r in http.get("/v1/runs", params={"appId": TEXT_TO_IMAGE}).json()["data"]]
    assert run_id not in listed and http.get(f"/v1/runs/{run_id}").status_code == 200
    time.sleep(0.55)
    listed = [r["runId"] for r in http.get("/v1/runs", params={"appId": TEXT_TO_IMAGE}).json()["data"]]
    assert run_id in listed


def test_listing_lag_rejects_unknown_parameters(emulator):
    with pytest.raises(ValueError, match="allowed: \\['seconds'\\]"):
        emulator.inject("listing_lag", route="GET /v1/runs", after=True)


def _warm(emu, c):
    """A client that has started a run before knows the server's clock (see core/claims.py)."""
    c.start(TEXT_TO_IMAGE, {"Prompt": "warm-up"})
    return emu.stats["runs_created"]


@pytest.mark.parametrize("status", [503, 504])
def test_client_adopts_the_run_behind_a_late_error_instead_of_paying_twice(status):
    with private_emulator() as emu, Client(api_key=emu.api_key, base_url=emu.base_url) as c:
        before = _warm(emu, c)
        emu.inject("status", route=START, status=status, after=True)
        run = c.start(TEXT_TO_IMAGE, {"Prompt": "behind a proxy"})
        assert emu.stats["runs_created"] == before + 1
        assert emu.runs()[-1]["run_id"] == run.id


def test_client_that_cannot_tell_raises_with_the_candidate_after_a_late_503():
    with private_emulator() as emu, Client(api_key=emu.api_key, base_url=emu.base_url) as c:
        emu.inject("status", route=START, status=503, after=True)
        with pytest.raises(UncertainStartError) as info:
            c.start(TEXT_TO_IMAGE, {"Prompt": "cold"})
        (made,) = emu.runs()
    assert info.value.candidates == (made["run_id"],) and emu.stats["runs_created"] == 1


def test_client_looks_twice_at_a_lagging_list_before_any_resend():
    """The run reaches the list 0.5 s late: the first look is empty, the second (1 s on) finds it."""
    with private_emulator() as emu, Client(api_key=emu.api_key, base_url=emu.base_url) as c:
        before = _warm(emu, c)
        emu.inject("listing_lag", route="GET /v1/runs", times=None, seconds=0.5)
        emu.inject("accept_then_drop", route=START)
        run = c.start(TEXT_TO_IMAGE, {"Prompt": "late in the list"})
        assert emu.stats["runs_created"] == before + 1 and emu.runs()[-1]["run_id"] == run.id
        assert emu.stats["requests_by_route"]["GET /v1/runs"] == 2



def test_client_raises_instead_of_paying_twice_when_the_list_is_seen_to_lag():
    """The list lags 5 s, past the client's second look: its own warm-up run is missing from the
    list, which shows the list is behind, so the empty answer proves nothing and nothing is resent."""
    with private_emulator() as emu, Client(api_key=emu.api_key, base_url=emu.base_url) as c:
        before = _warm(emu, c)
        emu.inject("listing_lag", route="GET /v1/runs", times=None, seconds=5.0)
        emu.inject("accept_then_drop", route=START)
        with pytest.raises(UncertainStartError, match="run list is behind") as info:
            c.start(TEXT_TO_IMAGE, {"Prompt": "lost behind a lagging list"})
        assert emu.stats["runs_created"] == before + 1 and info.value.candidates == ()
