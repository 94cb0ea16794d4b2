"""Bad input never crashes the emulator (issue 6): hypothesis sends random methods, paths, query strings,
headers and bodies to every endpoint of both API families (the admin surface excluded) over real HTTP.

Every answer must be a documented success or the documented error envelope (lamina-api.md §7: v1
`{error, code, retryable, requestId}` with the code's own status; legacy `{error, details?: [str]}`),
never a 500, a dropped connection or a hang, and the server must still serve a run afterwards.
Crashes the dispatcher swallows are caught too: any ERROR the emulator logs counts as unexpected.

Two limits keep the fuzz local and quiet for the other tests: webhook URLs are only ever invalid
ones (a valid one would make the emulator deliver to it later), and run ids for /wait and /stream are
terminal runs (a live one would hold the request open on purpose).
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections import Counter
from typing import Any
from urllib.parse import quote, unquote

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from suite import CAPTION_WRITER, CARTOONIFY, PRODUCT_SHOT, TEASER_CLIP, TEXT_TO_IMAGE

SCALE = int(os.environ.get("LAMINA_FUZZ_EXAMPLES", "0")) or None
CODES = {"AUTH_MISSING_KEY": 401, "AUTH_INVALID_KEY": 401, "AUTH_INVALID_CONTEXT": 401, "AUTH_FAILED": 500,
         "FORBIDDEN": 403, "NOT_FOUND": 404, "VALIDATION_ERROR": 400, "RATE_LIMITED": 429,
         "WEBHOOK_INVALID_URL": 400, "WEBHOOK_INVALID_SECRET": 401, "RESOURCE_UNAVAILABLE": 503,
         "INTERNAL_ERROR": 500}  # lamina-api.md §7.2, written out here so the emulator cannot grade itself
DOCUMENTED = {200, 202, 400, 401, 403, 404, 429}  # 500/503 only ever come from injected faults
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
APP_IDS = [TEXT_TO_IMAGE, CARTOONIFY, PRODUCT_SHOT, CAPTION_WRITER, TEASER_CLIP]


def fuzz(n: int) -> settings:
    """The CI profile: bounded, reproducible (derandomize), no deadline, no example database."""
    return settings(max_examples=SCALE or n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large])


@pytest.fixture
def known(emulator):
    """Real ids to mix into the fuzz: terminal runs (v1 and legacy), an upload token, media paths."""
    headers = {"Authorization": f"Bearer {emulator.api_key}"}
    with httpx.Client(base_url=emulator.base_url, headers=headers, timeout=10) as http:
        done = http.post(f"/v1/apps/{CAPTION_WRITER}/runs", json={"inputs": {"topic_text": "fuzz base"}})
        done_id = done.json()["data"]["runId"]
        finished = http.get(f"/v1/runs/{done_id}/wait", params={"timeout": 10}).json()["data"]
        stuck = http.post(f"/v1/apps/{TEXT_TO_IMAGE}/runs", json={"inputs": {"prompt_text": "fuzz #stuck"}})
        stuck_id = stuck.json()["data"]["runId"]
        http.post(f"/v1/runs/{stuck_id}/cancel")
        legacy = http.post(f"/api/apps/{CAPTION_WRITER}/executions", json={"inputs": {"topic_text": "fz"}})
        legacy_id = legacy.json()["data"]["executionId"]
        http.get(f"/v1/runs/{legacy_id}/wait", params={"timeout": 10})
        slot = http.post("/v1/assets/upload-urls", json={"files": [{"filename": "a.png"}]})
        upload = slot.json()["data"]["uploads"][0]
    media = [o["value"].split("/media/", 1)[1] for o in finished["outputs"] if "/media/" in str(o["value"])]
    return {"run_id": [done_id, stuck_id, legacy_id], "token": [upload["uploadUrl"].rsplit("/", 1)[1]],
            "path": ["samples/portrait.png", upload["assetUrl"].split("/media/", 1)[1], *media],
            "app_id": APP_IDS}


# -- strategies -------------------------------------------------------------------------------------
JUNK_IDS = ["", ".", "..", "%2F", "%00", "%ff%fe", "x" * 3000, "ünïcødé", "😀", "null", "-1", "0",
            str(uuid.UUID(int=0)), "3a1f9c2e-7b4d-4e8a-9c61", TEXT_TO_IMAGE.upper(), TEXT_TO_IMAGE + "x",
            "{app_id}", "../../etc/passwd", "a b", "a?b=c", "a#b", ";", "run_" + "9" * 40]
SEGMENT = st.sampled_from(JUNK_IDS) | st.text(max_size=12) | st.uuids().map(str)
QUERY_KEYS = st.sampled_from(["limit", "offset", "status", "appId", "since", "search", "timeout", "webhook",
                              "cursor", "limit[]", ""]) | st.text(max_size=6)
QUERY_VALUES = (st.sampled_from(["", "0", "1", "-1", "+5", " 7 ", "100", "101", "120", "121", "1e3", "nan",
                                 "999999999", "9999999999", "٣", "0x10", "completed", "paused", "COMPLETED",
                                 "2026-01-01T00:00:00Z", "2026-13-45T00:00:00Z", "0001-01-01T00:00:00-23:59",
                                 "9999-12-31T23:59:59-23:59", "yesterday", "ftp://x", "http://",
                                 "javascript:alert(1)", "not a url", "http://" + "a" * 3000,
                                 TEXT_TO_IMAGE, "x" * 5000])
                | st.integers(-(10**12), 10**12).map(str) | st.text(max_size=10))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12)
INPUT_KEYS = st.sampled_from(["prompt_text", "prompt", "Prompt", "style", "aspect_ratio", "topic_text",
                              "tone", "product_text", "background", "duration", "your_photo_image_url",
                              "upload", "Upload"]) | st.text(max_size=6)
INPUT_VALUES = JSON | st.sampled_from(["Neon", "Studio", "Playful", "4s", "16:9", "Ghibli", "a \ud800 b",
                                       "/media/samples/portrait.png", "ftp://x/y.png", "x" * 20_000,
                                       "fuzz #fail", "\x00\x01"])
STRUCTURED = st.fixed_dictionaries({}, optional={
    "inputs": st.dictionaries(INPUT_KEYS, INPUT_VALUES, max_size=4) | JSON,
    "outputs": st.lists(st.sampled_from(["Image", "image", "Caption", "Clip", "Front View", "nope"])
                        | JSON, max_size=3) | JSON,
    "files": st.lists(st.fixed_dictionaries({}, optional={
        "filename": st.sampled_from(["a.png", "", "a/b.png", "x" * 300, "ü.gif", ".."]) | JSON,
        "mediaType": st.sampled_from(["image", "video", "audio", "text", ""]) | JSON}) | JSON, max_size=25)
    | JSON})
BODIES = (st.none() | st.binary(max_size=200) | JSON.map(json.dumps)
          | STRUCTURED.map(lambda b: json.dumps(b, ensure_ascii=True))
          | st.sampled_from([b"{not json", b"[1,2]", b'{"inputs": NaN}', b"[" * 100_000 + b"]" * 100_000,
                             b'{"inputs": {"prompt_text": "\xff\xfe"}}', b"{" + b" " * (2 << 20) + b"}",
                             b'{"inputs": {"prompt_text": "ok"}, "inputs": 5}', b"\xef\xbb\xbf{}", b"null"]))
CONTENT_TYPES = st.sampled_from(["application/json", "text/plain", "multipart/form-data; boundary=x",
                                 "application/x-www-form-urlencoded", "", "image/png", "application/json; "
                                 "charset=bogus", "*/*"]) | st.none()
AUTH = st.just("bearer") | st.just("x-api-key") | st.sampled_from(  # 2 in 3 get past auth
    ["none", "wrong", "bearer-empty", "latin1", "lowercase-bearer", "wrong-workspace"])
HEADER_NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,14}", fullmatch=True).filter(
    lambda n: n not in {"content-length", "host", "transfer-encoding", "connection", "authorization",
                        "x-api-key", "expect", "upgrade", "te", "trailer"})
HEADER_VALUES = st.binary(max_size=30).map(lambda b: bytes(c for c in b if c >= 32 and c != 127).strip())


@st.composite
def requests(draw: Any, templates: list[tuple[str, str]], known: dict[str, list[str]]) -> dict[str, Any]:
    method, template = draw(st.sampled_from(templates))
    if draw(st.integers(0, 4)) == 0:
        method = draw(st.sampled_from(METHODS))
    path = template
    for name in ("app_id", "run_id", "token", "path"):
        if "{" + name + "}" in path:
            if draw(st.integers(0, 2)):  # 2 in 3 real ids, so the handlers' own checks run
                value = draw(st.sampled_from(known[name]))
            else:
                raw = draw(SEGMENT)
                reserved_kept = draw(st.integers(0, 3)) == 0  # "a?b", "a#b", "../x" keep their meaning
                value = quote(raw, safe="/?#%;=&+@:,$!'()*" if reserved_kept else "")
            path = path.replace("{" + name + "}", value)
    if draw(st.integers(0, 9)) == 0:
        path += draw(st.sampled_from(["/", "//", "/extra", "%20", "/..", "?"]))
    query = draw(st.lists(st.tuples(QUERY_KEYS, QUERY_VALUES), max_size=4))
    headers = draw(st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=3))
    content_type = draw(CONTENT_TYPES)
    if content_type is not None:
        headers["content-type"] = content_type.encode()
    return {"method": method, "path": path, "query": query, "headers": headers, "auth": draw(AUTH),
            "body": draw(BODIES)}


def envelope_problem(response: httpx.Response, method: str) -> str | None:
    """None when the answer is documented; else what is wrong with it."""
    status = response.status_code
    if status not in DOCUMENTED:
        return f"undocumented status {status}"
    if not response.headers.get("x-request-id"):
        return "no X-Request-Id header"
    if method == "HEAD":
        return None
    ctype = response.headers.get("content-type", "")
    if status < 300:
        if unquote(response.request.url.path).startswith("/media/"):
            return None  # the CDN serves stored bytes under the type they were uploaded with
        if ctype.startswith("application/json"):
            try:
                body = response.json()
            except ValueError:
                return f"2xx JSON that does not parse: {response.content[:80]!r}"
            enveloped = isinstance(body, dict) and ("data" in body or "keys" in body)
            return None if enveloped else "2xx without data"
        if ctype.startswith("text/event-stream"):
            return None if response.text.startswith("event: ") else "stream without events"
        return None if ctype.startswith(("image/", "video/", "audio/", "text/plain")) else f"2xx as {ctype}"
    try:
        body = response.json()
    except ValueError:
        return f"non-JSON error body {response.text[:80]!r}"
    if not isinstance(body, dict) or not isinstance(body.get("error"), str) or not body["error"]:
        return f"error body without a message: {str(body)[:120]}"
    if unquote(response.request.url.path).startswith("/api/"):  # legacy: {error, details?: [str]}
        extra = set(body) - {"error", "details"}
        details = body.get("details", [])
        ok = not extra and isinstance(details, list) and all(isinstance(d, str) for d in details)
        return None if ok else f"legacy body of the wrong shape: {str(body)[:160]}"
    code = body.get("code")
    if CODES.get(code) != status:
        return f"code {code!r} does not belong to status {status}"
    same_id = body.get("requestId") == response.headers["x-request-id"]
    if not isinstance(body.get("retryable"), bool) or not same_id:
        return f"v1 envelope incomplete: {str(body)[:160]}"
    if "details" in body and not isinstance(body["details"], list):
        return "details is not a list"
    return None


def plain_request(method: str, template: str, known: dict[str, list[str]]) -> dict[str, Any]:
    path = template
    for name, values in known.items():
        path = path.replace("{" + name + "}", values[0])
    body = b'{"inputs": {}}' if method == "POST" else b"hello" if method == "PUT" else None
    return {"method": method, "path": path, "query": [], "headers": {}, "auth": "bearer", "body": body}


def auth_headers(mode: str, key: str) -> dict[str, bytes]:
    return {
        "bearer": {"authorization": f"Bearer {key}".encode()},
        "x-api-key": {"x-api-key": key.encode()},
        "none": {},
        "wrong": {"authorization": b"Bearer lma_wrong_0123456789"},
        "bearer-empty": {"authorization": b"Bearer"},
        "latin1": {"authorization": b"Bearer \xe9\xff\xfe"},
        "lowercase-bearer": {"authorization": f"bearer {key}".encode()},
        "wrong-workspace": {"authorization": f"Bearer {key}".encode(), "x-workspace-id": b"ws_other"},
    }[mode]


GROUPS = {
    "apps": lambda r: r.template.startswith("/v1/apps") and "runs" not in r.template
    and "executions" not in r.template,
    "runs-start-get-list": lambda r: r.template in (
        "/v1/apps/{app_id}/runs", "/v1/apps/{app_id}/executions", "/v1/runs/{run_id}",
        "/v1/executions/{run_id}", "/v1/runs"),
    "wait-stream-cancel": lambda r: r.template.endswith(("/wait", "/stream", "/cancel")),
    "uploads-media-account-keys": lambda r: r.family in ("upload", "media")
    or r.template.startswith(("/v1/assets", "/v1/account", "/v1/webhooks")),
    "legacy": lambda r: r.family == "legacy",
    "anywhere": lambda r: r.family != "admin",
}


@pytest.mark.parametrize("group", list(GROUPS))
def test_fuzz_every_endpoint_answers_a_documented_envelope(group, emulator, known, scenario, caplog):
    routes = [r for r in emulator.app.router.routes if r.family != "admin" and GROUPS[group](r)]
    assert routes, group
    templates = [(r.method, r.template) for r in routes]
    before = emulator.stats["requests_by_route"]
    counts = {"examples": 0, "unexpected": 0}
    problems: list[str] = []
    statuses: Counter[int] = Counter()
    caplog.set_level(logging.ERROR, logger="lamina_jupyter.emulator")
    http = httpx.Client(base_url=emulator.base_url, timeout=httpx.Timeout(15.0, connect=5.0))

    @fuzz(150)
    @given(req=requests(templates, known))
    @example(req={"method": "HEAD", "path": f"/v1/runs/{known['run_id'][0]}/stream", "query": [],
                  "headers": {}, "auth": "bearer", "body": None})
    @example(req={"method": "POST", "path": f"/v1/apps/{TEXT_TO_IMAGE}/runs", "query": [("webhook", "http://")],
                  "headers": {}, "auth": "bearer", "body": b'{"inputs": {"prompt_text": "\\ud800"}}'})
    @example(req={"method": "POST", "path": "/v1/assets/upload-urls", "query": [], "headers": {},  # was a 500
                  "auth": "bearer", "body": '{"files": [{"filename": "a.png", "mediaType": []}]}'})
    def check(req: dict[str, Any]) -> None:
        counts["examples"] += 1
        headers = {**req["headers"], **auth_headers(req["auth"], emulator.api_key)}
        try:
            response = http.request(req["method"], req["path"], params=req["query"], headers=headers,
                                    content=req["body"])
        except httpx.HTTPError as exc:  # a dropped connection or a hang: never acceptable
            counts["unexpected"] += 1
            problems.append(f"{type(exc).__name__} on {req['method']} {req['path'][:80]}")
            raise
        statuses[response.status_code] += 1
        problem = envelope_problem(response, req["method"])
        if problem:
            counts["unexpected"] += 1
            problems.append(f"{problem} on {req['method']} {req['path'][:80]}")
        assert problem is None, problem

    for method, template in templates:  # every route once with real ids and a real key, then the fuzz
        check = example(req=plain_request(method, template, known))(check)
    try:
        check()
        # the server still serves a whole run after the barrage
        with httpx.Client(base_url=emulator.base_url, timeout=15,
                          headers={"Authorization": f"Bearer {emulator.api_key}"}) as ok:
            body = {"inputs": {"topic_text": "after fuzz"}}
            started = ok.post(f"/v1/apps/{CAPTION_WRITER}/runs", json=body)
            assert started.status_code == 202, started.text
            done = ok.get(f"/v1/runs/{started.json()['data']['runId']}/wait", params={"timeout": 10})
            assert done.json()["data"]["status"] == "completed", done.text
    finally:
        http.close()
        crashes = [r.getMessage() for r in caplog.records if r.name.startswith("lamina_jupyter.emulator")
                   and r.levelno >= logging.ERROR]
        counts["unexpected"] += len(crashes)
        scenario.add(fuzz_examples=counts["examples"], unexpected_exceptions=counts["unexpected"])
    assert not crashes, crashes[:3]
    assert not problems, problems[:5]
    assert statuses[200] + statuses[202] and statuses[400], statuses  # successes and rejected input both seen
    after = emulator.stats["requests_by_route"]
    missed = [r.name for r in routes if after.get(r.name, 0) == before.get(r.name, 0) and group != "anywhere"]
    assert not missed, f"routes the fuzz never reached: {missed}"

