"""Pure flow tests of the retry layer and simple calls: canned responses in, requests/sleeps out."""

from __future__ import annotations

import httpx
import pytest
from client_flowkit import APP_ID, APP_JSON, drive, make_ctx, reply, script

from lamina_jupyter.core import flows
from lamina_jupyter.core.errors import (
    AuthenticationError,
    LaminaConnectionError,
    NotFoundError,
    RateLimitError,
    ResponseError,
    ServerError,
    ValidationError,
)


def test_list_apps_builds_request_and_parses_without_sending_the_key():
    ctx = make_ctx()
    trace = drive(ctx, flows.list_apps(ctx, "cat", 5), script((200, {"data": [APP_JSON]})))
    (req,) = trace.requests
    assert (req.method, str(req.url)) == ("GET", "https://lamina.test/v1/apps?search=cat&limit=5")
    assert "authorization" not in req.headers and "x-api-key" not in req.headers
    assert req.extensions["timeout"] == {"connect": 5, "read": 30, "write": 30, "pool": 10}
    assert [a.name for a in trace.result] == ["Text to Image"]
    assert trace.result[0].id == APP_ID


def test_legacy_family_uses_api_paths():
    ctx = make_ctx(api="legacy")
    trace = drive(ctx, flows.get_run(ctx, "ex-1"),
                  script((200, {"data": {"executionId": "ex-1", "status": "running"}})))
    assert trace.routes == ["GET /api/executions/ex-1"]
    assert trace.result.id == "ex-1" and trace.result.status == "running"


def test_503_twice_then_success_backs_off_with_jitter():
    ctx = make_ctx()
    busy = {"error": "busy", "code": "RESOURCE_UNAVAILABLE", "retryable": True}
    trace = drive(ctx, flows.get_run(ctx, "r1"),
                  script((503, busy), (503, busy), (200, {"data": {"runId": "r1", "status": "running"}})))
    assert len(trace.requests) == 3
    first, second = (s.seconds for s in trace.sleeps)
    assert 0.375 <= first <= 0.5 and 0.75 <= second <= 1.0


def test_500_every_time_gives_server_error_after_three_requests():
    ctx = make_ctx()
    with pytest.raises(ServerError) as info:
        drive(ctx, flows.get_run(ctx, "r1"), script(*[(500, {"error": "boom", "code": "INTERNAL_ERROR",
                                                               "requestId": "req-9"})] * 3))
    assert len(info.value.trace.requests) == 3
    assert info.value.status_code == 500 and info.value.request_id == "req-9"
    assert "req-9" in str(info.value)


@pytest.mark.parametrize("headers,body,expected", [
    ({"Retry-After": "2"}, {"error": "slow", "code": "RATE_LIMITED", "retryable": True, "retryAfter": 2},
     2.0),
    ({}, {"error": "slow", "code": "RATE_LIMITED", "retryable": True, "retryAfter": 3}, 3.0),
    ({"retry-after-ms": "1500"}, None, 1.5),
    ({"Retry-After": "Thu, 01 Jan 2026 00:00:04 GMT"}, None, 4.0),
])
def test_429_hint_pauses_the_governor_then_retries(headers, body, expected):
    ctx = make_ctx()
    ok = (200, {"data": {"runId": "r1", "status": "running"}})
    trace = drive(ctx, flows.get_run(ctx, "r1"), script((429, body, headers), ok))
    assert len(trace.requests) == 2
    assert [(s.seconds, s.reason) for s in trace.sleeps] == [(pytest.approx(expected), "rate limit")]


def test_plain_text_429_without_hint_uses_backoff():
    ctx = make_ctx()

    def plain(request):
        return reply(request, 429, text="Too many requests from this IP, please try again in a minute")

    trace = drive(ctx, flows.get_run(ctx, "r1"), script(plain, (200, {"data": {"runId": "r1"}})))
    assert len(trace.requests) == 2 and 0.375 <= trace.sleeps[0].seconds <= 0.5


def test_429_with_hint_over_120_s_raises_at_once_without_sleeping():
    ctx = make_ctx()
    with pytest.raises(RateLimitError) as info:
        drive(ctx, flows.get_run(ctx, "r1"), script((429, {"error": "slow", "code": "RATE_LIMITED",
                                                           "retryable": True}, {"Retry-After": "300"})))
    assert info.value.retry_after == 300
    assert len(info.value.trace.requests) == 1 and info.value.trace.sleeps == []
    assert "300" in str(info.value)
    assert ctx.governor.waiting_seconds() == pytest.approx(300)  # batches sharing the governor wait


@pytest.mark.parametrize("status,body,exc", [
    (400, {"error": "Invalid inputs",
           "details": ['"Location": invalid option "Mars". Must be one of: Studio']},
     ValidationError),
    (401, {"error": "Invalid API key", "code": "AUTH_INVALID_KEY", "retryable": False}, AuthenticationError),
    (403, {"error": "Forbidden", "code": "FORBIDDEN", "retryable": False}, AuthenticationError),
    (404, {"error": "Execution not found"}, NotFoundError),
])
def test_non_retryable_errors_send_exactly_one_request(status, body, exc):
    ctx = make_ctx()
    with pytest.raises(exc) as info:
        drive(ctx, flows.get_run(ctx, "r1"), script((status, body)))
    assert len(info.value.trace.requests) == 1
    assert info.value.status_code == status


def test_nested_validation_details_are_listed():
    ctx = make_ctx()
    body = {"error": "Invalid", "code": "VALIDATION_ERROR", "retryable": False,
            "details": {"code": "x", "message": "m", "details": {"errors": [
                {"field": "Style", "error": "invalid_option", "message": "bad style"}]}}}
    with pytest.raises(ValidationError) as info:
        drive(ctx, flows.get_run(ctx, "r1"), script((400, body)))
    assert "'Style': bad style" in str(info.value)


def test_409_marked_retryable_is_retried():
    ctx = make_ctx()
    trace = drive(ctx, flows.get_run(ctx, "r1"), script(
        (409, {"error": "busy", "code": "CONFLICT", "retryable": True}), (200, {"data": {"runId": "r1"}})))
    assert len(trace.requests) == 2


def test_transport_errors_are_retried_then_name_the_base_url():
    ctx = make_ctx()
    err = httpx.ConnectError("refused")
    with pytest.raises(LaminaConnectionError) as info:
        drive(ctx, flows.get_run(ctx, "r1"), script(err, err, err))
    assert len(info.value.trace.requests) == 3
    assert "https://lamina.test" in str(info.value)


def test_read_error_mid_poll_is_retried():
    ctx = make_ctx()
    trace = drive(ctx, flows.get_run(ctx, "r1"),
                  script(httpx.ReadError("reset"), (200, {"data": {"runId": "r1", "status": "running"}})))
    assert trace.result.status == "running" and len(trace.requests) == 2


def test_malformed_json_is_retried_then_reported_with_a_scrubbed_excerpt():
    ctx = make_ctx()

    def broken(request):
        return httpx.Response(200, content=b'{"data": {"note": "lma_SHOULDNOTLEAK123", "status": ',
                              headers={"content-type": "application/json", "x-request-id": "req-7"},
                              request=request)

    with pytest.raises(ResponseError) as info:
        drive(ctx, flows.get_run(ctx, "r1"), script(broken, broken, broken))
    text = str(info.value)
    assert info.value.request_id == "req-7" and "req-7" in text
    assert "lma_SHOULDNOTLEAK123" not in text and "lma_***" in text


def test_html_502_is_a_server_error_without_the_page():
    ctx = make_ctx(max_retries=0)

    def html(request):
        return httpx.Response(502, content=b"<html><body><h1>502 Bad Gateway</h1></body></html>",
                              headers={"content-type": "text/html"}, request=request)

    with pytest.raises(ServerError) as info:
        drive(ctx, flows.get_run(ctx, "r1"), script(html))
    assert "<html" not in str(info.value) and "Bad Gateway" in str(info.value)


def test_deeply_nested_json_is_a_response_error_not_a_recursion_error():
    ctx = make_ctx(max_retries=0)

    def deep(request):
        return httpx.Response(200, content=b"[" * 100_000 + b"]" * 100_000,
                              headers={"content-type": "application/json"}, request=request)

    with pytest.raises(ResponseError):
        drive(ctx, flows.get_run(ctx, "r1"), script(deep))


def test_get_app_by_name_resolves_through_search_and_caches():
    ctx = make_ctx()
    summary = {"appId": APP_ID, "name": "Text to Image"}
    trace = drive(ctx, flows.get_app(ctx, "Text to Image"),
                  script((200, {"data": [summary]}), (200, {"data": APP_JSON})))
    assert trace.routes == ["GET /v1/apps", f"GET /v1/apps/{APP_ID}"]
    assert [p.name for p in trace.result.parameters] == ["Prompt", "Style", "Upload"]
    again = drive(ctx, flows.get_app(ctx, "Text to Image"), script())
    assert again.result is trace.result


def test_unknown_app_name_lists_close_matches():
    ctx = make_ctx()
    apps = [{"appId": APP_ID, "name": "Text to Image"}, {"appId": "x", "name": "Caption Writer"}]
    with pytest.raises(NotFoundError) as info:
        drive(ctx, flows.get_app(ctx, "text to imag"),
              script((200, {"data": []}), (404, {"error": "App not found"}), (200, {"data": apps})))
    assert "'Text to Image'" in str(info.value)


def test_ambiguous_app_name_is_an_error_naming_the_ids():
    ctx = make_ctx()
    twins = [{"appId": "a-1", "name": "Twin"}, {"appId": "a-2", "name": "Twin"}]
    with pytest.raises(NotFoundError, match="a-1, a-2"):
        drive(ctx, flows.get_app(ctx, "Twin"), script((200, {"data": twins})))


def test_signing_key_without_data_wrapper():
    ctx = make_ctx()
    jwks = {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "abc", "kid": "k1"}]}
    trace = drive(ctx, flows.signing_key(ctx), script((200, jwks)))
    assert trace.result == jwks and trace.routes == ["GET /v1/webhooks/signing-key"]
