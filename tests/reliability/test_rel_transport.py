"""Fault matrix A: HTTP and transport faults on single calls (rate limits, 5xx, 4xx, refused
connections, slow servers, ambiguous run starts, malformed bodies), against the real emulator or the
raw loopback server in wire_faults.py. Every test records what it injected and what it survived.
"""

from __future__ import annotations

import json
import re
import socket
import time
import tracemalloc
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import formatdate

import httpx
import pytest
from suite import CAPTION_WRITER, route_count
from teammates import crowd, teammate_start
from wire_faults import KINDS, RST, Respond, Stall, Truncated, WireServer, drive, fired, on, run_body

from lamina_jupyter import (
    AuthenticationError,
    LaminaConnectionError,
    LaminaError,
    NotFoundError,
    RateLimitError,
    ResponseError,
    ServerError,
    TransportError,
    UncertainStartError,
    ValidationError,
    WaitTimeout,
)
from lamina_jupyter.core.bounds import MAX_BODY
from lamina_jupyter.core.claims import clock_for
from lamina_jupyter.core.errors import LaminaWarning
from lamina_jupyter.core.ratelimit import MAX_SERVER_WAIT, RateGovernor
from lamina_jupyter.core.watch import GRACE
from lamina_jupyter.emulator import Emulator

RUN_ROUTE = "GET /v1/runs/{id}"
START_ROUTE = "POST /v1/apps/{id}/runs"
def topic(text: str = "matrix") -> dict[str, str]:
    return {"Topic": f"{text} {uuid.uuid4().hex[:8]}"}


@pytest.fixture
def run_id(client):
    return client.start(CAPTION_WRITER, topic()).id


# 1. 429 RATE_LIMITED ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_429_header_and_body_hint_is_honoured(scenario, emulator, run_id, kind):
    emulator.reset_stats()
    f0 = fired(emulator)
    scenario.add(faults_injected=1)
    emulator.inject("status", route="GET /v1/runs/*", status=429, code="RATE_LIMITED", retry_after=1)
    t0 = time.monotonic()
    run = drive(kind, lambda c: c.get_run(run_id), **on(emulator))
    waited = time.monotonic() - t0
    assert run.id == run_id and waited >= 0.95
    assert route_count(emulator, RUN_ROUTE) == 2
    assert fired(emulator) - f0 == 1  # every injected fault hit this call


@pytest.mark.parametrize("hint", ["body_only", "retry_after_ms", "http_date"])
def test_429_hint_in_any_form_is_honoured(scenario, hint):
    envelope = {"error": "slow down", "code": "RATE_LIMITED", "retryable": True}
    at = int(time.time()) + 2  # HTTP dates have whole seconds
    reply = {"body_only": Respond(429, {**envelope, "retryAfter": 0.6}),
             "retry_after_ms": Respond(429, envelope, {"retry-after-ms": "600"}),
             "http_date": Respond(429, envelope, {"Retry-After": formatdate(at, usegmt=True)})}[hint]
    with WireServer(reply, Respond(200, run_body())) as wire:
        t0 = time.monotonic()
        run = drive("sync", lambda c: c.get_run("run_wire_1"), api_key="lma_test_0123456789",
                    base_url=wire.base_url)
        waited, done_at = time.monotonic() - t0, time.time()
    honoured = done_at >= at - 0.05 if hint == "http_date" else waited >= 0.55
    assert run.status == "completed" and honoured and wire.count("GET /v1/runs/") == 2 and wire.fired == 1
    scenario.add(faults_injected=wire.fired)


def test_429_plain_text_body_is_retried(scenario, emulator, run_id):
    emulator.reset_stats()
    f0 = fired(emulator)
    scenario.add(faults_injected=1)
    emulator.inject("status", route="GET /v1/runs/*", status=429, plain_text=True)
    run = drive("sync", lambda c: c.get_run(run_id), **on(emulator))
    assert run.id == run_id and route_count(emulator, RUN_ROUTE) == 2
    assert fired(emulator) - f0 == 1  # every injected fault hit this call


@pytest.mark.parametrize("kind", KINDS)
def test_429_hint_too_long_for_an_interactive_call_raises_at_once(scenario, emulator, run_id, kind):
    emulator.reset_stats()
    f0 = fired(emulator)
    scenario.add(faults_injected=1)
    emulator.inject("status", route="GET /v1/runs/*", status=429, code="RATE_LIMITED", retry_after=300)
    t0 = time.monotonic()
    with pytest.raises(RateLimitError) as info:
        drive(kind, lambda c: c.get_run(run_id), **on(emulator))
    assert info.value.retry_after == 300 and "300" in str(info.value)
    assert time.monotonic() - t0 < 1.0 and route_count(emulator, RUN_ROUTE) == 1
    assert emulator.api_key not in str(info.value)
    assert fired(emulator) - f0 == 1  # every injected fault hit this call


# 2-3. 5xx and non-retryable 4xx ------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_503_burst_then_success_returns_the_run(scenario, emulator, run_id, kind):
    emulator.reset_stats()
    f0 = fired(emulator)
    scenario.add(faults_injected=2)
    emulator.inject("status", route="GET /v1/runs/*", status=503, times=2)
    run = drive(kind, lambda c: c.get_run(run_id), **on(emulator))
    assert run.id == run_id and route_count(emulator, RUN_ROUTE) == 3
    assert fired(emulator) - f0 == 2  # every injected fault hit this call


def test_500_on_every_attempt_is_a_server_error_with_code_and_request_id(scenario, emulator, run_id):
    emulator.reset_stats()
    f0 = fired(emulator)
    scenario.add(faults_injected=3)
    emulator.inject("status", route="GET /v1/runs/*", status=500, code="INTERNAL_ERROR", times=None)
    with pytest.raises(ServerError) as info:
        drive("sync", lambda c: c.get_run(run_id), **on(emulator))
    err = info.value
    assert err.status_code == 500 and err.code == "INTERNAL_ERROR" and err.request_id
    assert err.request_id in str(err) and route_count(emulator, RUN_ROUTE) == 3
    assert fired(emulator) - f0 == 3  # every injected fault hit this call


@pytest.mark.parametrize("status,code,exc", [
    (400, "VALIDATION_ERROR", ValidationError), (401, "AUTH_INVALID_KEY", AuthenticationError),
    (403, "FORBIDDEN", AuthenticationError), (404, "NOT_FOUND", NotFoundError)])
def test_4xx_is_never_retried(scenario, emulator, run_id, status, code, exc):
    emulator.reset_stats()
    f0 = fired(emulator)
    scenario.add(faults_injected=1)
    emulator.inject("status", route="GET /v1/runs/*", status=status, code=code, times=None)
    with pytest.raises(exc) as info:
        drive("sync", lambda c: c.get_run(run_id), **on(emulator))
    assert info.value.status_code == status and info.value.code == code
    assert route_count(emulator, RUN_ROUTE) == 1
    leaks = sum(emulator.api_key in text for text in (str(info.value), repr(info.value)))
    assert leaks == 0
    scenario.add(key_leaks=leaks, surfaces_scanned=2)
    assert fired(emulator) - f0 == 1  # every injected fault hit this call


# 4. connection refused ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_connection_refused_names_the_base_url_in_bounded_time(scenario, kind):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, never listening: refused
        t0 = time.monotonic()
        with pytest.raises(LaminaConnectionError, match=url) as info:
            drive(kind, lambda c: c.list_apps(), api_key="lma_test_0123456789", base_url=url)
    attempts = int(re.search(r"after (\d+) attempt", str(info.value)).group(1))
    assert time.monotonic() - t0 < 5 and attempts == 3
    scenario.add(faults_injected=attempts)


# 6-7. run starts: ambiguous outcomes are reconciled, "not created" answers are resent -------------------
@pytest.mark.parametrize("kind", KINDS)
def test_start_gets_429_then_503_then_202_and_creates_one_run(scenario, emulator, kind):
    emulator.reset_stats()
    f0 = fired(emulator)
    scenario.add(faults_injected=2)
    emulator.inject("status", route="POST /v1/apps/*/runs", status=429, retry_after=1)
    emulator.inject("status", route="POST /v1/apps/*/runs", status=503)
    run = drive(kind, lambda c: c.start(CAPTION_WRITER, topic("retried start")), **on(emulator))
    created = emulator.stats["runs_created"]
    assert route_count(emulator, START_ROUTE) == 3 and created == 1
    assert [r["run_id"] for r in emulator.runs()].count(run.id) == 1
    scenario.add(rows_submitted=1, rows_completed=1, paid_twice=created - 1)
    assert fired(emulator) - f0 == 2  # every injected fault hit this call


@pytest.fixture
def private_emulator():
    # A server of its own: nothing in this process knows its clock or its runs until the test says so.
    with Emulator(latency=0.1, jitter=0.0, rate_limit=None) as emu:
        yield emu


@pytest.mark.parametrize("fault,kind", [("rst", "sync"), ("rst", "async"), ("fin", "sync"), ("slow", "sync"),
                                        ("late_answer", "async")])
def test_lost_answer_to_a_start_is_reconciled_not_resent(scenario, private_emulator, fault, kind):
    emu = private_emulator
    drive("sync", lambda c: c.start(CAPTION_WRITER, topic("warm-up")), **on(emu))  # pins the server clock
    f0 = fired(emu)
    scenario.add(faults_injected=1)
    if fault == "slow":  # the server is still busy when the client's read timeout fires
        emu.inject("delay", route="POST /v1/apps/*/runs", seconds=1.2)
    elif fault == "late_answer":  # the run exists at once; its 202 comes after the read timeout
        emu.inject("delay", route="POST /v1/apps/*/runs", seconds=1.2, after=True)
    else:
        emu.inject("accept_then_drop", route="POST /v1/apps/*/runs", fin=fault == "fin")
    t0 = time.monotonic()
    run = drive(kind, lambda c: c.start(CAPTION_WRITER, topic("lost answer")), **on(emu), timeout=0.6)
    if fault in ("slow", "late_answer"):  # let the delayed original land (or not) before counting
        time.sleep(max(0.0, t0 + 1.5 - time.monotonic()))
    runs = emu.runs()
    assert len(runs) == 2 and runs[1]["run_id"] == run.id
    assert emu.stats["runs_created"] == 2 and emu.stats["duplicate_starts"] == 0
    scenario.add(rows_submitted=1, rows_completed=1, paid_twice=emu.stats["runs_created"] - 2)
    assert fired(emu) - f0 == 1  # every injected fault hit this call


def test_lost_answer_in_a_crowd_is_ours_or_said_never_a_strangers(scenario, private_emulator):
    """The crowded twin: a teammate starts the same app every 0.15 s while our answer is lost."""
    emu = private_emulator
    drive("sync", lambda c: c.start(CAPTION_WRITER, topic("warm-up")), **on(emu))  # pins the server clock
    inputs = topic("in a crowd")
    with crowd(emu, CAPTION_WRITER, {"topic_text": "the crowd"}) as strangers:
        time.sleep(0.3)
        f0 = fired(emu)
        scenario.add(faults_injected=1)
        emu.inject("accept_then_drop", route="POST /v1/apps/*/runs")
        try:
            got, candidates = drive("sync", lambda c: c.start(CAPTION_WRITER, inputs), **on(emu)).id, ()
        except UncertainStartError as err:
            got, candidates = None, err.candidates
    mine = [r["run_id"] for r in emu.runs() if r["inputs"] == inputs]
    assert strangers and len(mine) == 1 and got not in strangers
    assert got == mine[0] or (got is None and mine[0] in candidates)  # adopted, or named among the doubt
    scenario.add(rows_submitted=1, rows_completed=int(got is not None), paid_twice=len(mine) - 1)
    assert fired(emu) - f0 == 1


def test_start_created_after_the_first_look_is_still_adopted(scenario):
    """A busy server times out the POST, its run list is still empty, and the run appears a moment later
    (the server finished the request after the client gave up): the client looks again before any
    resend. Scripted on the raw server, because the emulator drops a request whose client has left."""
    app = {"data": {"appId": CAPTION_WRITER, "name": "Caption Writer", "outputs": [], "parameters": [
        {"id": "topic", "key": "topic_text", "name": "Topic", "type": "text", "required": False}]}}
    made = datetime.fromtimestamp(time.time() + 0.3, timezone.utc).isoformat(timespec="milliseconds")
    late = {"runId": "run_late_1", "status": "queued", "outputs": [], "workflowId": CAPTION_WRITER,
            "createdAt": made}
    with WireServer(Respond(200, app), Stall(3.0), Respond(200, {"data": []}), Respond(200, {"data": [late]}),
                    Respond(200, {"data": late})) as wire:
        clock_for(wire.base_url).observe(time.time(), time.time(), time.time())  # its clock is ours, exactly
        run = drive("sync", lambda c: c.start(CAPTION_WRITER, {"Topic": "busy"}), base_url=wire.base_url,
                    api_key="lma_test_0123456789", timeout=0.5)
    posts = wire.count(f"POST /v1/apps/{CAPTION_WRITER}/runs")
    assert run.id == "run_late_1" and posts == 1 and wire.count("GET /v1/runs?") == 2
    assert wire.requests[-1] == "GET /v1/runs/run_late_1"  # adopted, then read in full
    scenario.add(faults_injected=wire.fired, rows_submitted=1,
                 rows_completed=int(run.id == "run_late_1"), paid_twice=posts - 1)


def test_undecidable_start_raises_uncertain_start_naming_what_to_do(scenario, private_emulator):
    emu = private_emulator
    inputs = topic("twins")
    theirs = teammate_start(emu, CAPTION_WRITER, inputs)  # another notebook started the very same inputs
    f0 = fired(emu)
    scenario.add(faults_injected=1)
    emu.inject("accept_then_drop", route="POST /v1/apps/*/runs")
    with pytest.raises(UncertainStartError) as info:
        drive("sync", lambda c: c.start(CAPTION_WRITER, inputs), **on(emu))
    message = str(info.value)
    ours = emu.runs()[-1]["run_id"]
    assert set(info.value.candidates) == {theirs, ours} and theirs in message and ours in message
    assert CAPTION_WRITER in message and info.value.since
    assert emu.stats["requests_by_route"][START_ROUTE] == 2  # ours was sent once, never resent
    scenario.add(paid_twice=emu.stats["runs_created"] - 2)
    assert fired(emu) - f0 == 1  # every injected fault hit this call


def test_lost_answer_on_the_legacy_api_is_uncertain_never_resent(scenario, private_emulator):
    emu = private_emulator
    f0 = fired(emu)
    scenario.add(faults_injected=1)
    emu.inject("accept_then_drop", route="POST /api/apps/*/executions")
    with pytest.raises(UncertainStartError, match="legacy API cannot list runs") as info:
        drive("async", lambda c: c.start(CAPTION_WRITER, topic("legacy lost")), **on(emu), api="legacy")
    assert info.value.app_id == CAPTION_WRITER and "before starting it again" in str(info.value)
    assert emu.stats["requests_by_route"]["POST /api/apps/{id}/executions"] == 1
    assert emu.stats["runs_created"] == 1  # it does exist: the error says so instead of guessing
    scenario.add(paid_twice=emu.stats["runs_created"] - 1)
    assert fired(emu) - f0 == 1  # every injected fault hit this call


# 8. unreadable or wrongly shaped bodies ----------------------------------------------------------------
DEEP = "[" * 100_000 + "]" * 100_000
BODIES = {
    "malformed_json": ('{"data": {"runId": "run_wire_1", "status": ', 2),
    "deep_nesting": ('{"data": ' + DEEP + "}", 2),
    "duplicate_keys": ('{"data": {"runId": "run_wire_1", "status": "completed", "status": "failed", '
                       '"outputs": []}}', 2),
    "nan": ('{"data": {"runId": "run_wire_1", "status": "completed", "outputs": [], "progress": NaN}}', 2),
    "status_42": ('{"data": {"runId": "run_wire_1", "status": 42, "outputs": []}}', 1),
    "outputs_not_a_list": ('{"data": {"runId": "run_wire_1", "status": "completed", "outputs": "x"}}', 1),
    "data_is_a_list": ('{"data": [1, 2, 3]}', 1),
}


@pytest.mark.parametrize("name", list(BODIES))
def test_unreadable_run_body_is_a_response_error(scenario, name):
    body, requests = BODIES[name]
    unexpected, err = 0, None
    bad = Respond(200, body.encode(), {"Content-Type": "application/json"}, fault=True)
    with WireServer(fallback=bad) as wire:
        try:
            drive("sync", lambda c: c.get_run("run_wire_1"), api_key="lma_test_0123456789",
                  base_url=wire.base_url, max_retries=1)  # unreadable bodies are retried once here
        except ResponseError as exc:
            err = exc
        except Exception:  # noqa: BLE001 - counted: KeyError, TypeError, RecursionError... must be 0
            unexpected += 1
            raise
    assert isinstance(err, LaminaError) and err.request_id == "req_wire_1" and "req_wire_1" in str(err)
    assert len(str(err)) < 600 and DEEP[:300] not in str(err)
    assert wire.count("GET /v1/runs/run_wire_1") == requests == wire.fired
    scenario.add(faults_injected=wire.fired, unexpected_exceptions=unexpected)


def test_missing_outputs_parse_as_none_not_a_key_error(scenario):
    body = b'{"data": {"runId": "run_wire_1", "status": "completed"}}'
    with WireServer(fallback=Respond(200, body, {"Content-Type": "application/json"}, fault=True)) as wire:
        run = drive("sync", lambda c: c.get_run("run_wire_1"), api_key="lma_test_0123456789",
                    base_url=wire.base_url)
    assert run.status == "completed" and run.outputs == () and wire.count("GET /v1/runs/") == 1
    with pytest.raises(KeyError, match="no output 'Caption'; labels: \\[\\]"):
        run.output("Caption")  # a lookup by name: KeyError is its documented answer
    scenario.add(faults_injected=wire.fired)


@pytest.mark.parametrize("fault", ["html_502", "truncated_body", "rst"])
def test_transient_bad_answer_is_retried(scenario, fault):
    first = {"html_502": Respond(502, "<html><body><h1>502 Bad Gateway</h1></body></html>",
                                 {"Content-Type": "text/html"}),
             "truncated_body": Truncated(b'{"data": {"runId": "run_wire_1", "status": "completed"}}'),
             "rst": RST}[fault]
    with WireServer(first, Respond(200, run_body())) as wire:
        run = drive("sync", lambda c: c.get_run("run_wire_1"), api_key="lma_test_0123456789",
                    base_url=wire.base_url)
    assert run.status == "completed" and wire.count("GET /v1/runs/") == 2 and wire.fired == 1
    scenario.add(faults_injected=wire.fired)


# 9. slow server past the client timeout ----------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_slow_server_is_a_clear_timeout_in_bounded_time(scenario, emulator, run_id, kind):
    f0 = fired(emulator)
    scenario.add(faults_injected=2)
    emulator.inject("delay", route="GET /v1/runs/*", seconds=1.5, times=2)
    t0 = time.monotonic()
    with pytest.raises(TransportError) as info:
        drive(kind, lambda c: c.get_run(run_id), **on(emulator), timeout=0.3, max_retries=1)
    elapsed = time.monotonic() - t0
    message = str(info.value)
    assert "timed out" in message and emulator.base_url in message and f"GET /v1/runs/{run_id}" in message
    assert not isinstance(info.value, LaminaConnectionError) and elapsed < 2.5
    assert fired(emulator) - f0 == 2  # every injected fault hit this call


# 10. servers that never finish: every call has a total bound (issue 12 item 4) ---------------------------
@dataclass
class Drip:
    """Status line and headers, then `pieces` one every `every` seconds (round and round when
    `forever`): a body sent one byte at a time, or an event stream that only ever pings."""

    pieces: list[bytes]
    every: float = 0.1
    content_type: str = "application/json"
    forever: bool = False


class DripServer(WireServer):
    def _act(self, conn: socket.socket, action: object) -> bool:
        if not isinstance(action, Drip):
            return super()._act(conn, action)
        length = "" if action.forever else f"Content-Length: {sum(map(len, action.pieces))}\r\n"
        try:
            conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: {action.content_type}\r\n{length}\r\n".encode())
            while True:
                for piece in action.pieces:
                    if self._stop.wait(action.every):
                        return False
                    conn.sendall(piece)
                if not action.forever:
                    return True
        except OSError:
            return False


def _bytes_of(body: dict) -> list[bytes]:
    raw = json.dumps(body).encode()
    return [raw[i:i + 1] for i in range(len(raw))]


@pytest.mark.parametrize("kind", KINDS)
def test_a_body_sent_one_byte_at_a_time_is_cut_at_the_total_bound(scenario, kind):
    scenario.add(faults_injected=1)  # declared before the checks
    drip = Drip(_bytes_of(run_body(status="running")), every=0.1)  # about 20 s of bytes
    with DripServer(fallback=drip) as wire:
        t0 = time.monotonic()
        with pytest.raises(TransportError) as info:
            drive(kind, lambda c: c.get_run("run_wire_1"), api_key="lma_test_0123456789",
                  base_url=wire.base_url, timeout=httpx.Timeout(1.0), max_retries=0)
        elapsed = time.monotonic() - t0
    assert elapsed < 2.6, f"get_run took {elapsed:.1f} s; its total bound is connect + read = 2 s"
    assert "timed out" in str(info.value) and "in total" in str(info.value)


PING_ONLY = {"comments": [b": ping\n\n"], "ping_events": [b"event: ping\ndata: 1\n\n"],
             "one_endless_line": [b"x"]}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("stream", list(PING_ONLY))
def test_wait_on_a_stream_that_only_pings_ends_within_its_timeout(scenario, kind, stream):
    scenario.add(faults_injected=1)  # declared before the checks
    pings = Drip(PING_ONLY[stream], every=0.05, content_type="text/event-stream", forever=True)
    with DripServer(pings, fallback=Respond(200, run_body(status="running"))) as wire:
        seen: list = []
        t0 = time.monotonic()
        with pytest.raises(WaitTimeout):
            drive(kind, lambda c: c.wait("run_wire_1", timeout=2, on_update=seen.append),
                  api_key="lma_test_0123456789", base_url=wire.base_url, wait_strategy="stream")
        elapsed = time.monotonic() - t0
    assert elapsed < 2 + GRACE + 0.6, f"wait(timeout=2) took {elapsed:.1f} s"


@pytest.mark.parametrize("kind", KINDS)
def test_wait_on_a_long_poll_that_drips_ends_within_its_timeout(scenario, kind):
    scenario.add(faults_injected=1)  # declared before the checks
    drip = Drip(_bytes_of(run_body(status="running")), every=0.1)
    with DripServer(fallback=drip) as wire:
        t0 = time.monotonic()
        with pytest.raises(WaitTimeout):
            drive(kind, lambda c: c.wait("run_wire_1", timeout=2), api_key="lma_test_0123456789",
                  base_url=wire.base_url, wait_strategy="wait")
        elapsed = time.monotonic() - t0
    assert elapsed < 2 + GRACE + 0.6, f"wait(timeout=2) took {elapsed:.1f} s"


@pytest.mark.parametrize("kind", KINDS)
def test_a_huge_api_body_is_refused_at_the_cap_with_bounded_memory(scenario, kind):
    huge = b'{"data": {"runId": "run_wire_1", "status": "completed", "pad": "' + b"x" * (64 << 20) + b'"}}'
    with WireServer(fallback=Respond(200, huge, {"Content-Type": "application/json"}, fault=True)) as wire:
        tracemalloc.start()
        try:
            with pytest.raises(ResponseError, match="16 MiB") as info:
                drive(kind, lambda c: c.get_run("run_wire_1"), api_key="lma_test_0123456789",
                      base_url=wire.base_url, max_retries=0)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 3 * MAX_BODY, f"reading a 64 MiB body peaked at {peak / 2**20:.0f} MiB"
    assert "req_wire_1" in str(info.value) and len(str(info.value)) < 600
    scenario.add(faults_injected=wire.fired, faults_survived=wire.fired)


ABSURD_HINTS = {"retry_after_decades": Respond(429, {"error": "slow down", "code": "RATE_LIMITED"},
                                               {"Retry-After": "999999999"}),
                "body_hint_decades": Respond(429, {"error": "slow down", "code": "RATE_LIMITED",
                                                   "retryAfter": 10**12}),
                "window_reset_decades": Respond(200, run_body(), {"RateLimit-Limit": "100",
                                                                 "RateLimit-Remaining": "0",
                                                                 "RateLimit-Reset": "999999999"},
                                                fault=True)}


@pytest.mark.parametrize("hint", list(ABSURD_HINTS))
def test_an_absurd_server_hint_pauses_the_shared_governor_at_most_ten_minutes(scenario, hint):
    governor = RateGovernor()
    with WireServer(fallback=ABSURD_HINTS[hint]) as wire, pytest.warns(LaminaWarning, match="at most 600 s"):
        try:
            drive("sync", lambda c: c.get_run("run_wire_1"), api_key="lma_test_0123456789",
                  base_url=wire.base_url, governor=governor)
        except RateLimitError as exc:
            assert exc.retry_after == MAX_SERVER_WAIT
    paused = governor.state()["paused_for"]
    assert 590 < paused <= MAX_SERVER_WAIT, paused
    scenario.add(faults_injected=1, faults_survived=int(paused <= MAX_SERVER_WAIT))
