"""Pure flow tests of starting (reconciliation), waiting, streaming and polling."""

from __future__ import annotations

import contextlib
import contextvars
import json

import httpx
import pytest
from client_flowkit import APP_ID, APP_JSON, drive, make_ctx, run_json, script

from lamina_jupyter.core import flows, watch
from lamina_jupyter.core.errors import RunFailedError, UncertainStartError, ValidationError, WaitTimeout
from lamina_jupyter.core.models import App, Run

APP = App.from_json(APP_JSON)
START = f"POST /v1/apps/{APP_ID}/runs"


def start(ctx, inputs=None):
    return flows.start(ctx, APP, inputs or {"prompt_text": "a cat"})


def test_start_sends_names_and_webhook_query():
    ctx = make_ctx()
    flow = flows.start(ctx, APP, {"prompt_text": "a cat", "style": "Neon"}, webhook="https://hook.test/x")
    trace = drive(ctx, flow, script((202, {"data": run_json()})))
    (req,) = trace.requests
    assert req.url.params["webhook"] == "https://hook.test/x"
    assert json.loads(req.content) == {"inputs": {"Prompt": "a cat", "Style": "Neon"}}
    assert trace.result.status == "queued" and "run-1" in ctx.known_runs


def test_invalid_inputs_send_nothing():
    ctx = make_ctx()
    with pytest.raises(ValidationError) as info:
        bad = {"Style": "neon ", "Colour": "red", "Upload": "not a url"}
        drive(ctx, flows.start(ctx, APP, bad), script())
    assert info.value.trace.requests == []
    errors = sorted(d["error"] for d in info.value.details)
    assert errors == ["invalid_media", "invalid_option", "missing_no_default", "unknown_parameter"]


def warm(ctx, doubt=0.02):
    """A client that has started runs before: their createdAt pinned the server's clock to `doubt` s."""
    now = ctx.wall()
    ctx.server_clock.observe(now - doubt / 2, now + doubt / 2, now)
    return ctx


def test_read_error_after_sending_adopts_the_one_run_made_while_it_was_in_flight():
    ctx = warm(make_ctx())
    ctx.known_runs.add("older")
    listing = [run_json("older", "completed"), run_json("new-1")]
    trace = drive(ctx, start(ctx), script(httpx.ReadError("reset"), (200, {"data": listing}),
                                          (200, {"data": run_json("new-1", "running")})))
    assert trace.routes == [START, "GET /v1/runs", "GET /v1/runs/new-1"]
    params = trace.requests[1].url.params
    # the list reaches CROWD_HORIZON (30 s) back: anyone else running the app there is doubt
    assert params["appId"] == APP_ID and params["since"] == "2025-12-31T23:59:29.989Z"
    assert trace.result.id == "new-1" and "new-1" in ctx.known_runs


def test_a_lone_rival_in_a_crowded_app_is_doubt():
    """Someone else ran the app 10 s ago: a run made during our request's flight may be theirs while
    ours never arrived, and the list cannot tell, so it is named, not taken."""
    ctx = warm(make_ctx())
    listing = [run_json("new-1"), run_json("theirs", createdAt="2025-12-31T23:59:50.000Z")]
    with pytest.raises(UncertainStartError) as info:
        drive(ctx, start(ctx), script(httpx.ReadError("reset"), (200, {"data": listing})))
    assert info.value.candidates == ("new-1",) and "new-1" not in ctx.known_runs


@contextlib.contextmanager
def a_sibling_in_flight(ctx):
    """Another start of the app in this process (a batch's other row, a form) whose answer has not come."""
    other, flight = contextvars.Context(), ctx.known_runs.flight(ctx.base_url, APP_ID)
    other.run(flight.__enter__).sent = ctx.wall() - 3.0  # its request went out 3 s ago
    try:
        yield
    finally:
        other.run(flight.__exit__, None, None, None)


def test_the_run_of_a_sibling_still_in_flight_is_not_a_crowd():
    """A batch's overlapping starts: ours lost its answer, the sibling's run is listed before its own
    answer came. That run is accounted for by the sibling, so the app is quiet and ours is taken."""
    ctx = warm(make_ctx())
    listing = [run_json("new-1"), run_json("the-siblings", createdAt="2025-12-31T23:59:58.000Z")]
    with a_sibling_in_flight(ctx):
        trace = drive(ctx, start(ctx), script(httpx.ReadError("reset"), (200, {"data": listing}),
                                              (200, {"data": run_json("new-1", "running")})))
    assert trace.result.id == "new-1" and trace.routes == [START, "GET /v1/runs", "GET /v1/runs/new-1"]


def test_a_sibling_in_flight_and_one_stranger_more_is_a_crowd():
    ctx = warm(make_ctx())
    listing = [run_json("new-1"), run_json("the-siblings", createdAt="2025-12-31T23:59:58.000Z"),
               run_json("theirs", createdAt="2025-12-31T23:59:50.000Z")]
    with a_sibling_in_flight(ctx), pytest.raises(UncertainStartError) as info:
        drive(ctx, start(ctx), script(httpx.ReadError("reset"), (200, {"data": listing})))
    assert info.value.candidates == ("new-1",) and "new-1" not in ctx.known_runs


def test_a_lone_rival_may_be_the_run_of_a_sibling_whose_run_is_not_listed():
    """Ours may never have arrived while the sibling's did: the one run found could be the sibling's.
    The list is read again, LISTING_SETTLE apart, for SIBLING_PATIENCE; the sibling's run never shows."""
    ctx = warm(make_ctx())
    listing = [run_json("new-1")]
    tries = int(flows.SIBLING_PATIENCE / flows.LISTING_SETTLE)
    looks = [(200, {"data": listing})] * (1 + tries)
    with a_sibling_in_flight(ctx), pytest.raises(UncertainStartError) as info:
        drive(ctx, start(ctx), script(httpx.ReadError("reset"), *looks))
    assert info.value.trace.routes == [START] + ["GET /v1/runs"] * (1 + tries)
    assert info.value.candidates == ("new-1",) and "new-1" not in ctx.known_runs


def test_a_siblings_run_listed_on_a_later_look_settles_it():
    ctx = warm(make_ctx())
    later = [run_json("new-1"), run_json("the-siblings", createdAt="2025-12-31T23:59:58.000Z")]
    with a_sibling_in_flight(ctx):
        trace = drive(ctx, start(ctx), script(httpx.ReadError("reset"), (200, {"data": [run_json("new-1")]}),
                                              (200, {"data": later}), (200, {"data": run_json("new-1")})))
    assert trace.result.id == "new-1" and trace.routes.count("GET /v1/runs") == 2


def test_two_runs_in_the_flight_beside_a_sibling_that_never_answers_stay_doubt():
    """Ours and the sibling's runs were made within the same milliseconds: only the sibling's answer
    could tell them apart. It does not come within SIBLING_PATIENCE, so both are named, neither taken."""
    ctx = warm(make_ctx())
    listing = [run_json("new-1"), run_json("new-2")]
    tries = int(flows.SIBLING_PATIENCE / flows.LISTING_SETTLE)
    with a_sibling_in_flight(ctx), pytest.raises(UncertainStartError) as info:
        drive(ctx, start(ctx), script(httpx.ReadError("reset"), *[(200, {"data": listing})] * (1 + tries)))
    assert info.value.candidates == ("new-1", "new-2") and "new-1" not in ctx.known_runs


def test_a_lone_rival_is_doubt_while_the_server_clock_is_unknown():
    """Nothing has pinned the server's clock yet, so a run 0.2 s before ours looks just like ours."""
    ctx = make_ctx()
    listing = [run_json("theirs", createdAt="2025-12-31T23:59:59.800Z")]
    with pytest.raises(UncertainStartError) as info:
        drive(ctx, start(ctx), script(httpx.ReadError("reset"), (200, {"data": listing})))
    assert info.value.candidates == ("theirs",) and info.value.trace.routes == [START, "GET /v1/runs"]
    assert "client.get_run('theirs')" in str(info.value) and "theirs" not in ctx.known_runs


def test_a_run_started_before_ours_was_sent_is_never_taken():
    """The teammate scenario: their run is 0.2 s older than our request; ours never reached the server."""
    ctx = warm(make_ctx())
    listing = [run_json("theirs", createdAt="2025-12-31T23:59:59.800Z")]
    trace = drive(ctx, start(ctx), script(httpx.ReadError("reset"), (200, {"data": listing}),
                                          (200, {"data": listing}), (202, {"data": run_json("mine")})))
    assert trace.routes == [START, "GET /v1/runs", "GET /v1/runs", START]
    assert trace.result.id == "mine" and "theirs" not in ctx.known_runs


def test_a_run_this_process_already_follows_is_never_taken():
    ctx = warm(make_ctx())
    ctx.known_runs.add("the-forms-run")  # another client, form or batch of this kernel started it
    listing = [run_json("the-forms-run")]
    trace = drive(ctx, start(ctx), script(httpx.ReadError("reset"), (200, {"data": listing}),
                                          (200, {"data": listing}), (202, {"data": run_json("mine")})))
    assert trace.result.id == "mine" and trace.routes.count(START) == 2


def test_a_successful_start_pins_the_server_clock():
    ctx = make_ctx()
    assert ctx.server_clock.doubt == float("inf")
    drive(ctx, start(ctx), script((202, {"data": run_json(createdAt="2026-01-01T00:00:00.250Z")})))
    assert ctx.server_clock.lo == pytest.approx(0.249) and ctx.server_clock.hi == pytest.approx(0.251)


def test_inputs_in_the_list_pick_the_matching_run():
    ctx = warm(make_ctx())
    listing = [run_json("other", inputs={"Prompt": "a dog"}), run_json("mine", inputs={"Prompt": "a cat"})]
    trace = drive(ctx, start(ctx), script((502, {"error": "bad gateway"}), (200, {"data": listing}),
                                          (200, {"data": run_json("mine")})))
    assert trace.result.id == "mine" and trace.routes.count(START) == 1


@pytest.mark.parametrize("lost,pause", [(httpx.ReadError("reset"), 1.0), (httpx.ReadTimeout("slow"), 10.0)])
def test_list_proving_absence_allows_one_resend(lost, pause):
    # a new run may reach the list late (and after a timeout the server may still be creating it):
    # an empty list is read twice, a pause apart, before the one resend
    ctx = make_ctx()
    empty = [(200, {"data": []})] * 2
    trace = drive(ctx, start(ctx), script(lost, *empty, (202, {"data": run_json("r2")})))
    assert trace.routes == [START] + ["GET /v1/runs"] * 2 + [START]
    assert trace.sleeps[0].seconds == pause and trace.result.id == "r2"


def test_undecidable_list_raises_and_never_resends():
    ctx = warm(make_ctx())
    with pytest.raises(UncertainStartError) as info:
        drive(ctx, start(ctx), script((504, {"error": "timeout"}),
                                      (200, {"data": [run_json("a"), run_json("b")]})))
    assert info.value.trace.routes.count(START) == 1 and info.value.candidates == ("a", "b")
    assert "client.get_run('a')" in str(info.value) and "start again" in str(info.value)


def test_not_sent_errors_and_not_created_statuses_are_resent_directly():
    ctx = make_ctx()
    trace = drive(ctx, start(ctx), script(
        httpx.ConnectError("refused"),
        (429, {"error": "slow", "code": "RATE_LIMITED", "retryable": True, "retryAfter": 1}),
        (202, {"data": run_json()})))
    assert trace.routes == [START] * 3


def test_503_on_start_is_checked_against_the_list_before_a_resend():
    """A 503 can come from a proxy after the server made the run: it is ambiguous, not "not created"."""
    ctx = make_ctx()
    trace = drive(ctx, start(ctx), script(
        (503, {"error": "busy", "code": "RESOURCE_UNAVAILABLE", "retryable": True}),
        (200, {"data": []}), (200, {"data": []}), (202, {"data": run_json()})))
    assert trace.routes == [START, "GET /v1/runs", "GET /v1/runs", START]


def test_legacy_ambiguous_start_raises_without_listing():
    ctx = make_ctx(api="legacy")
    with pytest.raises(UncertainStartError, match="may have been created") as info:
        drive(ctx, start(ctx), script(httpx.RemoteProtocolError("dropped")))
    assert info.value.trace.routes == [f"POST /api/apps/{APP_ID}/executions"]


def test_wait_reissues_long_poll_on_timeout_flag():
    ctx = make_ctx()
    flow = watch.watch(ctx, "r1", timeout=300)
    trace = drive(ctx, flow, script((200, {"data": run_json("r1", "running"), "timeout": True}),
                                    (200, {"data": run_json("r1", "completed")})))
    assert trace.routes == ["GET /v1/runs/r1/wait"] * 2
    assert trace.requests[0].url.params["timeout"] == "60"
    assert trace.requests[0].extensions["timeout"]["read"] == 75.0
    assert [r.status for r in trace.emitted] == ["running", "completed"]


def test_wait_falls_back_to_polling_when_long_poll_is_missing():
    ctx = make_ctx()
    trace = drive(ctx, watch.watch(ctx, "r1"), script(
        (404, {"error": "Not found"}), (200, {"data": run_json("r1", "running")}),
        (200, {"data": run_json("r1", "cancelled")})))
    assert trace.routes == ["GET /v1/runs/r1/wait", "GET /v1/runs/r1", "GET /v1/runs/r1"]
    assert trace.result.status == "cancelled"


def test_polling_starts_soon_then_settles_and_times_out_naming_the_run():
    ctx = make_ctx(api="legacy")
    queued = Run.from_json(run_json("r1"))
    responder = script(*[(200, {"data": run_json("r1", "running")})] * 40)
    with pytest.raises(WaitTimeout) as info:
        drive(ctx, watch.watch(ctx, queued, timeout=20), responder)
    sleeps = [s.seconds for s in info.value.trace.sleeps]
    assert 0.4 <= sleeps[0] <= 0.6 and all(s <= 3.6 for s in sleeps)
    assert sum(sleeps) == pytest.approx(20)
    assert info.value.run_id == "r1" and info.value.last_status == "running"
    assert "r1" in str(info.value) and len(info.value.trace.requests) <= 20 / 3 + 6


def test_stream_emits_each_state_and_closes():
    ctx = make_ctx(strategy="stream")
    lines = ["event: progress", f"data: {json.dumps(run_json('r1', 'running'))}", "",
             "event: ping", "data: 1713456789000", "",
             "event: complete", f"data: {json.dumps(run_json('r1', 'completed'))}", ""]
    trace = drive(ctx, watch.watch(ctx, "r1"), script((200, None)), lines=lines)
    assert [r.status for r in trace.emitted] == ["running", "completed"]
    assert trace.routes == ["GET /v1/runs/r1/stream"]
    assert trace.requests[0].headers["accept"] == "text/event-stream"


def test_stream_error_event_with_cancelled_is_terminal():
    ctx = make_ctx(strategy="stream")
    lines = ["event: error", f"data: {json.dumps(run_json('r1', 'cancelled'))}", ""]
    trace = drive(ctx, watch.watch(ctx, "r1"), script((200, None)), lines=lines)
    assert trace.result.status == "cancelled"


def test_stream_drop_falls_back_to_polling():
    ctx = make_ctx(strategy="stream")
    lines = ["event: progress", f"data: {json.dumps(run_json('r1', 'running'))}", ""]
    responder = script((200, None), (200, {"data": run_json("r1", "completed")}))
    trace = drive(ctx, watch.watch(ctx, "r1"), responder,
                  lines=lines)
    assert trace.routes == ["GET /v1/runs/r1/stream", "GET /v1/runs/r1"]
    assert trace.result.status == "completed"


def test_run_to_end_raises_run_failed_error_with_the_run():
    ctx = make_ctx()
    failed = run_json("r1", "failed", errorMessage="Image generation timed out")
    with pytest.raises(RunFailedError) as info:
        drive(ctx, watch.run_to_end(ctx, APP, {"Prompt": "x"}), script((202, {"data": run_json("r1")}),
                                                                        (200, {"data": failed})))
    assert info.value.run.error_message == "Image generation timed out"
    assert "Image generation timed out" in str(info.value)


def test_upload_bytes_then_use_url_as_input():
    ctx = make_ctx()
    slot = {"uploads": [{"filename": "upload.png", "mediaType": "image", "contentTypeHint": "image/png",
                         "uploadUrl": "https://storage.test/put/1", "assetUrl": "https://cdn.test/a/1.png"}]}
    flow = flows.start(ctx, APP, {"Prompt": "x", "Upload": b"\x89PNG fake"})
    trace = drive(ctx, flow, script((200, {"data": slot}), (200, None), (202, {"data": run_json()})))
    assert trace.routes == ["POST /v1/assets/upload-urls", "PUT /put/1", START]
    assert trace.requests[1].content == b"\x89PNG fake"
    assert json.loads(trace.requests[2].content)["inputs"]["Upload"] == "https://cdn.test/a/1.png"
