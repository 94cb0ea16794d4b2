"""Fault matrix A (run level) and D27/D28: waiting survives wire faults, stuck runs, /wait timeouts,
dropped streams, odd statuses, failed runs, the sync API inside an event loop, and the hygiene
left behind (threads, pooled connections, unclosed sockets)."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import uuid
import warnings
from typing import Any

import pytest
from suite import CAPTION_WRITER, TEXT_TO_IMAGE, route_count
from wire_faults import (
    FIN,
    GARBAGE,
    KINDS,
    RST,
    Respond,
    Stall,
    Truncated,
    WireServer,
    drive,
    fired,
    on,
    run_body,
)

from lamina_jupyter import AsyncClient, Client, LaminaWarning, RunFailedError, WaitTimeout
from lamina_jupyter.core.ratelimit import RateGovernor

WIRE_KEY = "lma_test_0123456789"


def topic(text: str) -> dict[str, str]:
    return {"Topic": f"{text} {uuid.uuid4().hex[:8]}"}


def running(run_id: str = "run_wire_1", status: str = "running") -> Respond:
    return Respond(200, run_body(run_id, status))


# 5. connection faults while polling -------------------------------------------------------------------
WIRE = {"rst": RST, "fin": FIN, "stall": Stall(2.0)}
CUT = Truncated(b'{"data": {"runId": "run_wire_1", "status": "running"}}')


@pytest.mark.parametrize("fault", list(WIRE))
def test_wait_survives_a_wire_fault_mid_poll(scenario, fault):
    with WireServer(running(), WIRE[fault], running(), fallback=running(status="completed")) as wire:
        scenario.add(faults_injected=1)
        run = drive("sync", lambda c: c.wait("run_wire_1", timeout=20), api_key=WIRE_KEY,
                    base_url=wire.base_url, wait_strategy="poll", timeout=0.4)
    assert run.status == "completed" and run.outputs[0].value == "hi"
    polls = wire.count("GET /v1/runs/run_wire_1")
    assert polls <= 1 + 4 and wire.fired == 1  # the faulted request is retried once; no extra polls


@pytest.mark.parametrize("kind", ["async"])  # the single-fault variants above run on Client
def test_wait_survives_four_wire_faults_in_a_row(scenario, kind):
    faults = [GARBAGE, CUT, RST, FIN]  # 4 in a row: two failed polls of two attempts each
    scenario.add(faults_injected=len(faults))
    with WireServer(running(), *faults, fallback=running(status="completed")) as wire:
        run = drive(kind, lambda c: c.wait("run_wire_1", timeout=20), api_key=WIRE_KEY,
                    base_url=wire.base_url, wait_strategy="poll", timeout=0.4, max_retries=1)
    assert run.status == "completed" and wire.count("GET /v1/runs/") == 1 + len(faults) + 1
    assert wire.fired == len(faults)


@pytest.mark.parametrize("api,kind", [("v1", "sync"), ("legacy", "async")])
def test_resets_on_the_emulator_mid_poll_are_survived(scenario, emulator, client, api, kind):
    run = client.start(CAPTION_WRITER, topic("resets"))
    f0 = fired(emulator)
    emulator.inject("reset", route="GET /*/*/*", times=3)
    scenario.add(faults_injected=3)
    final = drive(kind, lambda c: c.wait(run.id, timeout=30), **on(emulator), api=api, wait_strategy="poll")
    n = fired(emulator) - f0
    assert final.status == "completed" and n == 3


# 10. a run stuck in running --------------------------------------------------------------------------
def test_stuck_run_times_out_naming_run_and_status_and_is_not_cancelled(scenario, emulator, client):
    emulator.reset_stats()  # earlier tests' teardown cancels their live runs
    run = client.start(CAPTION_WRITER, topic("#stuck"))
    scenario.add(faults_injected=1)  # a run that never ends
    t0 = time.monotonic()
    with pytest.raises(WaitTimeout) as info:
        client.wait(run, timeout=1.0)
    err = info.value
    assert err.run_id == run.id and run.id in str(err) and err.last_status == "running"
    overshoot = time.monotonic() - t0 - 1.0
    assert err.elapsed >= 1.0 and overshoot < 2.5, overshoot  # well under one read timeout
    assert f"client.wait({run.id!r})" in str(err)
    status = {r["run_id"]: r["status"] for r in emulator.runs()}[run.id]
    assert status == "running" and route_count(emulator, "POST /v1/runs/{id}/cancel") == 0
    assert client.get_run(run.id).status == "running"  # still there to pick up later


@pytest.mark.parametrize("kind", KINDS)
def test_held_run_times_out_then_a_later_wait_recovers_it(scenario, emulator, client, kind):
    emulator.configure(hold=True)
    run = client.start(CAPTION_WRITER, topic("held"))
    scenario.add(faults_injected=1, rows_submitted=1)
    with pytest.raises(WaitTimeout) as info:
        drive(kind, lambda c: c.wait(run.id, timeout=1.0), **on(emulator))
    assert info.value.run_id == run.id and info.value.last_status in ("queued", "running")
    emulator.configure(hold=False)
    final = drive(kind, lambda c: c.wait(run.id, timeout=30), **on(emulator))
    scenario.add(rows_completed=int(final.status == "completed"))
    assert final.status == "completed" and final.outputs


# 11. /wait answering timeout: true again and again -----------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_wait_keeps_waiting_through_repeated_timeout_flags(scenario, kind):
    still = Respond(200, {**running().body, "timeout": True}, fault=True)
    scenario.add(ordinary_events=3)  # /wait answering timeout: true is the documented long-poll end
    with WireServer(still, still, still, fallback=running(status="completed")) as wire:
        run = drive(kind, lambda c: c.wait("run_wire_1", timeout=30), api_key=WIRE_KEY,
                    base_url=wire.base_url)
    assert run.status == "completed"
    assert wire.count("GET /v1/runs/run_wire_1/wait") == 4 and len(wire.requests) == 4  # no polling
    assert wire.fired == 3


# 12. an event stream that drops mid-way -------------------------------------------------------------
async def collect(states: Any) -> list[Any]:
    return [s async for s in states]


@pytest.mark.parametrize("abrupt,kind", [(False, "async"), (True, "sync")])
def test_dropped_stream_falls_back_without_losing_the_result(scenario, emulator, client, abrupt, kind):
    emulator.configure(latency=0.6)
    run = client.start(CAPTION_WRITER, topic("drop stream"))
    f0 = fired(emulator)
    emulator.inject("drop_stream", route="GET /v1/runs/*/stream", after_events=1, abrupt=abrupt)
    scenario.add(faults_injected=1)
    follow = (lambda c: list(c.stream(run.id, timeout=30))) if kind == "sync" else \
        (lambda c: collect(c.stream(run.id, timeout=30)))
    states = drive(kind, follow, **on(emulator))
    server = {r["run_id"]: r for r in emulator.runs()}[run.id]
    assert states[-1].status == server["status"] == "completed" and states[-1].outputs[0].value
    assert [s.status for s in states].count("completed") == 1  # the result arrives once
    seen = [(s.status, s.progress, tuple((o.status, o.value) for o in s.outputs)) for s in states]
    assert len(seen) == len(set(seen))  # no state is reported twice
    assert fired(emulator) - f0 == 1


# 13. cancelled mid-wait; an unknown status --------------------------------------------------------------
@pytest.mark.parametrize("strategy", ["wait", "poll"])
def test_cancelled_mid_wait_is_terminal_at_once(scenario, emulator, client, strategy):
    emulator.reset_stats()
    run = client.start(CAPTION_WRITER, topic("#stuck"))
    timer = threading.Timer(0.8, client.cancel, args=(run.id,))
    scenario.add(ordinary_events=1)  # a user's cancel
    timer.start()
    t0 = time.monotonic()
    final = drive("sync", lambda c: c.wait(run.id, timeout=20), **on(emulator), wait_strategy=strategy)
    timer.join()
    assert final.status == "cancelled" and time.monotonic() - t0 < 0.8 + 3.5
    assert route_count(emulator, "POST /v1/runs/{id}/cancel") == 1


def test_unknown_status_warns_once_and_keeps_polling(scenario):
    paused = Respond(200, run_body(status="paused"), fault=True)
    scenario.add(faults_injected=2)  # a status this client does not know yet
    with WireServer(paused, paused, fallback=running(status="completed")) as wire, \
            pytest.warns(LaminaWarning, match="unknown status 'paused'") as caught:
        run = drive("sync", lambda c: c.wait("run_wire_1", timeout=20), api_key=WIRE_KEY,
                    base_url=wire.base_url, wait_strategy="poll")
    assert run.status == "completed" and len([w for w in caught if w.category is LaminaWarning]) == 1
    assert wire.count("GET /v1/runs/run_wire_1") == 3 and wire.fired == 2


# 14. a run that fails ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_failed_run_raises_with_the_run_or_returns_it(scenario, emulator, kind):
    scenario.add(ordinary_events=2, rows_submitted=2)  # two #fail runs: failing is a run's right
    with pytest.raises(RunFailedError) as info:
        drive(kind, lambda c: c.run(TEXT_TO_IMAGE, {"Prompt": "#fail a lighthouse"}, timeout=30),
              **on(emulator))
    failed = info.value.run
    assert failed.status == "failed" and failed.error_message and failed.id in str(info.value)
    assert failed.error_message in str(info.value)
    assert any(o.error for o in failed.outputs)  # per-output errors come along
    returned = drive(kind, lambda c: c.run(TEXT_TO_IMAGE, {"Prompt": "#fail again"}, timeout=30,
                                           raise_on_failure=False), **on(emulator))
    assert returned.status == "failed" and returned.error_message
    server = {r["run_id"]: r["status"] for r in emulator.runs()}
    failed_on_server = [server[failed.id], server[returned.id]].count("failed")
    scenario.add(rows_completed=failed_on_server)
    assert failed_on_server == 2


# 17. the sync API inside a running event loop (a kernel) ----------------------------------------------
def test_sync_client_works_inside_a_running_event_loop(scenario, emulator):
    async def cell() -> tuple[Any, Any]:
        with Client(**on(emulator), governor=RateGovernor()) as c:
            done = c.run(CAPTION_WRITER, topic("inside a loop"), timeout=30)
        async with AsyncClient(**on(emulator)) as ac:  # and top-level await next to it
            again = await ac.get_run(done.id)
        return done, again

    scenario.add(rows_submitted=1)
    done, again = asyncio.run(cell())
    scenario.add(rows_completed=int(again.status == "completed"))
    assert done.status == again.status == "completed" and done.id == again.id


# 18. hygiene after faults --------------------------------------------------------------------------
def _pooled(c: Client | AsyncClient) -> int:
    pool = c._http._transport._pool  # type: ignore[union-attr]
    return len(pool.connections)


async def _async_wait_then_close(base_url: str) -> tuple[str, int]:
    c = AsyncClient(api_key=WIRE_KEY, base_url=base_url, wait_strategy="poll", timeout=0.4)
    try:
        status = (await c.wait("run_wire_1", timeout=20)).status
    finally:
        await c.aclose()
    return status, _pooled(c)


def test_no_leaked_threads_connections_or_unclosed_sockets_after_faults(scenario, emulator):
    scenario.add(faults_injected=3)  # a stall, a dropped stream, a reset
    gc.collect()
    threads_before = {t.ident for t in threading.enumerate()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with WireServer(Stall(2.0), running(), fallback=running(status="completed")) as wire:
            faults = 0
            c = Client(api_key=WIRE_KEY, base_url=wire.base_url, wait_strategy="poll", timeout=0.4)
            assert c.wait("run_wire_1", timeout=20).status == "completed"
            c.close()
            assert _pooled(c) == 0
        faults += wire.fired
        with Client(**on(emulator)) as c:
            run = c.start(CAPTION_WRITER, topic("hygiene"))
            f0 = fired(emulator)
            emulator.inject("drop_stream", route="GET /v1/runs/*/stream", after_events=1, abrupt=True)
            assert list(c.stream(run, timeout=30))[-1].status == "completed"
            open_while_alive = _pooled(c)
        assert _pooled(c) == 0 and open_while_alive <= 2
        faults += fired(emulator) - f0
        with WireServer(RST, fallback=running(status="completed")) as wire:
            assert asyncio.run(_async_wait_then_close(wire.base_url)) == ("completed", 0)
        faults += wire.fired
        gc.collect()
    unclosed = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert unclosed == []
    deadline = time.monotonic() + 3
    while {t.ident for t in threading.enumerate()} - threads_before and time.monotonic() < deadline:
        time.sleep(0.05)
    leaked = [t.name for t in threading.enumerate() if t.ident not in threads_before]
    assert leaked == [] and faults == 3
