"""Sans-IO core: the steps a flow yields, the shared context, request building and the retry layer.

A flow is a generator (like an httpx auth flow). It yields
  - an `httpx.Request`   → the driver sends it and sends back the `httpx.Response` (body read) or the
                           `httpx.TransportError` it raised;
  - `Sleep(seconds)`     → the driver sleeps and sends back None;
  - `OpenStream(request)`/`NextLine()`/`CloseStream()` → server-sent events, line by line (the
                           driver sends back the response (headers), then each line, None at EOF);
  - `Emit(run)`          → a new run state for on_update callbacks / stream iterators;
  - `Deadline(seconds)`  → no later step may end after that; the driver throws `DeadlineExceeded`
                           into the flow when one would (bounds.py has the rule);
  - `Join(future, within)` → the driver waits until another flow settles `future` (a shared app
                           refetch), at most `within` seconds, and sends back None;
and finally returns its result. No I/O and no clock reads happen here except through `Context`,
whose clock and random source tests replace.

Retry rule (reliability.md §8), implemented by `send()`:
  * reads (GET) and idempotent POSTs (cancel, estimate) are retried up to `max_retries` times on
    transport errors, 408, 409, 429, 5xx, an envelope `retryable: true`, and unreadable bodies;
    never on other 4xx or an envelope `retryable: false`;
  * the POST that starts a run is retried only when it provably created nothing: the connection was
    never made (ConnectError, ConnectTimeout, PoolTimeout) or the server said 429 (refused before any
    work). Any other failure after sending (read error/timeout, any 5xx, unreadable 2xx) raises
    `OutcomeUnknown` and the start flow reconciles through the run list instead of resending: a 503 or
    504 can come from a proxy after the server created the run;
  * the wait before a retry is the server's hint (`retry-after-ms`, `Retry-After` in seconds or as
    an HTTP date, body `retryAfter`) when 0 < hint ≤ 120 s, else min(0.5·2^n, 8) s times a jitter
    factor in [0.75, 1]; a hint above 120 s raises RateLimitError(retry_after=hint) at once in
    interactive calls (the governor is still paused, so a batch waits instead); every hint is
    capped at 10 minutes and a negative or non-finite one ignored (`ratelimit.sane_wait`);
  * 429 hints pause the process-wide rate governor, so every client waits, not just this call.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Callable, Generator
from concurrent.futures import Future
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from functools import cached_property
from typing import Any
from urllib.parse import quote

import httpx

from .claims import Flight, RunRegistry, ServerClock
from .errors import (
    LaminaConnectionError,
    RateLimitError,
    TransportError,
    error_from_response,
    response_error,
)
from .models import MediaFetcher
from .ratelimit import RateGovernor, sane_wait

MAX_HINT = 120.0
USER_AGENT = "lamina-jupyter/0.1.0"


@dataclass(frozen=True)
class Sleep:
    seconds: float
    reason: str = "retry"  # "retry" | "rate limit" | "poll"


@dataclass(frozen=True)
class OpenStream:
    request: httpx.Request


@dataclass(frozen=True)
class NextLine:
    within: float | None = None  # seconds; the async driver sends back TimeoutError after that


@dataclass(frozen=True)
class CloseStream:
    pass


@dataclass(frozen=True)
class Emit:
    value: Any


@dataclass(frozen=True)
class Deadline:
    """From now on no step may end later than `seconds` from now (a watch's timeout)."""

    seconds: float


@dataclass(frozen=True)
class Join:
    """Wait until another flow settles `future` (work they share), at most `within` seconds. A
    concurrent future, so a sync client's thread and an async client's loop can share it."""

    future: Future[Any]
    within: float


class DeadlineExceeded(Exception):
    """Internal: the driver throws this into a flow whose `Deadline` passed during a step."""


Step = Any  # httpx.Request | Sleep | OpenStream | NextLine | CloseStream | Emit | Deadline | Join
Flow = Generator[Step, Any, Any]

NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
IDEMPOTENT, CREATE = "idempotent", "create"
WATCH = "watch"  # idempotent, and it only watches a run: it yields its rate-limit slot to starts


class OutcomeUnknown(Exception):
    """Internal: a run-start request was sent but we do not know whether it created a run."""

    def __init__(self, cause: str, busy: bool = False, sent: float | None = None) -> None:
        super().__init__(cause)
        self.cause = cause
        self.busy = busy  # timed out (read timeout, 504): the server may still be creating the run
        self.sent = sent  # wall time the request left (the run, if any, was created after it)


@dataclass
class Context:
    """Everything a flow needs besides I/O. One per client; cheap to build in tests."""

    base_url: str
    api: str = "v1"
    timeout: httpx.Timeout = field(
        default_factory=lambda: httpx.Timeout(connect=5, read=30, write=30, pool=10))
    max_retries: int = 2
    governor: RateGovernor = field(default_factory=RateGovernor)
    clock: Any = time.monotonic       # seconds, monotonic: deadlines and governor
    wall: Any = time.time             # epoch seconds: run-list `since`, HTTP-date hints
    rng: random.Random = field(default_factory=random.Random)
    fetcher: MediaFetcher | None = None
    strategy: str = "auto"            # how wait() watches a v1 run: auto | wait | stream | poll
    interactive: bool = True
    known_runs: RunRegistry = field(default_factory=RunRegistry)  # clients share claims.RUNS
    server_clock: ServerClock = field(default_factory=ServerClock)  # clients share claims.clock_for
    app_cache: dict[str, tuple[float, Any]] = field(default_factory=dict)
    app_fetches: dict[str, Future[Any]] = field(default_factory=dict)  # refetches in flight, by ref

    def url(self, template: str, *ids: str) -> str:
        return self.base_url + template.format(*(quote(str(i), safe="") for i in ids))

    def request(self, method: str, template: str, *ids: str, params: dict[str, Any] | None = None,
                json_body: Any = None, read_timeout: float | None = None, url: str | None = None,
                content: bytes | None = None, headers: dict[str, str] | None = None) -> httpx.Request:
        timeout = self.timeout if read_timeout is None else httpx.Timeout(
            connect=self.timeout.connect, read=read_timeout, write=self.timeout.write, pool=self.timeout.pool)
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        hdrs = {"Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
        return httpx.Request(method, url or self.url(template, *ids), params=clean or None, json=json_body,
                             content=content, headers=hdrs, extensions={"timeout": timeout.as_dict()})

    @cached_property
    def origin(self) -> tuple[str, str, int | None]:
        """The configured server's scheme, host and port (parsed once: every request is compared)."""
        base = httpx.URL(self.base_url)
        return base.scheme, base.host, base.port

    def same_origin(self, request: httpx.Request) -> bool:
        """Whether `request` goes to the configured server: scheme, host and port compared as URLs
        compare (httpx lower-cases scheme and host and drops a default port on both sides)."""
        url = request.url
        return (url.scheme, url.host, url.port) == self.origin


def retry_hint(response: httpx.Response, body: Any, wall: float) -> float | None:
    """Seconds the server asked us to wait, from retry-after-ms, Retry-After or body retryAfter: the
    first usable one, made safe by `sane_wait` (at most 10 minutes, nonsense ignored)."""
    h = response.headers
    candidates: list[tuple[float, str]] = []
    with contextlib.suppress(ValueError):
        if "retry-after-ms" in h:
            candidates.append((float(h["retry-after-ms"]) / 1000, "retry-after-ms"))
    if "retry-after" in h:
        raw = h["retry-after"].strip()
        try:
            candidates.append((float(raw), "Retry-After"))
        except ValueError:
            with contextlib.suppress(TypeError, ValueError, IndexError, OverflowError):
                candidates.append((parsedate_to_datetime(raw).timestamp() - wall, "Retry-After date"))
    if isinstance(body, dict):
        value = body.get("retryAfter")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            candidates.append((float(value) if abs(value) < 1e300 else float("nan"), "retryAfter"))
    for value, source in candidates:
        hint = sane_wait(value, source)
        if hint is not None:
            return hint
    return None


def backoff(attempt: int, rng: random.Random) -> float:
    return min(0.5 * 2 ** attempt, 8.0) * (0.75 + 0.25 * rng.random())


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):  # {"status":"completed","status":"failed"}: which one is true?
        raise ValueError("duplicate keys")
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_no_constant)  # made once


def _text(response: httpx.Response) -> str:
    """The body as `response.text` decodes it. Without a declared charset that is UTF-8 with
    replacement (httpx's default, which these clients keep), decoded here directly: `.text` parses
    the Content-Type with the email package first, the largest cost of reading a run's JSON."""
    ctype = response.headers.get("content-type")
    if ctype is None or "charset" not in ctype.lower():
        return response.content.decode("utf-8", "replace")
    return response.text


def parse_body(response: httpx.Response) -> tuple[Any, bool]:
    """(parsed JSON or None, ok). Deep nesting, non-JSON text, duplicate keys and NaN/Infinity all
    count as unreadable."""
    try:
        return _DECODER.decode(_text(response)), True
    except (ValueError, RecursionError, UnicodeDecodeError):
        return None, False


def _retryable_status(status: int, body: Any) -> bool:
    flag = body.get("retryable") if isinstance(body, dict) else None
    if isinstance(flag, bool):
        return flag or status in (429,)
    return status in (408, 409, 429) or status >= 500


def transport_error(exc: httpx.TransportError, base_url: str, attempts: int) -> TransportError:
    request = getattr(exc, "_request", None)
    tried = f" after {attempts} attempt(s)" if attempts > 1 else ""
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, NOT_SENT):
        operation = f"{request.method} {request.url.path}" if request is not None else "the request"
        limit = (request.extensions.get("timeout") or {}).get("read") if request is not None else None
        within = f" within {limit:g} s" if isinstance(limit, (int, float)) else ""
        return TransportError(f"Lamina at {base_url} did not answer {operation}{within}: it timed out{tried} "
                              f"({what}). The server may be overloaded; try again, or pass a larger "
                              "timeout= to the client.", request=request)
    if isinstance(exc, NOT_SENT):
        return LaminaConnectionError(
            f"Could not connect to Lamina at {base_url}{tried} ({what}). Check the "
            "network and the base URL (LAMINA_BASE_URL); for the local emulator, check that it is running.",
            request=request)
    if not isinstance(exc, TRANSIENT):
        return TransportError(f"The request to Lamina at {base_url} could not be sent "
                              f"({what}). Check the base URL and the API key for "
                              "stray characters.", request=request)
    return TransportError(f"The connection to Lamina at {base_url} failed{tried} ({what}). This is usually "
                          "temporary: try again.", request=request)


def take_turn(ctx: Context, kind: str) -> Generator[Step, Any, None]:
    """Wait for the governor's slot. A WATCH request told to ask again later does, so starts arriving
    meanwhile go first; each answer is checked alone, so asking again never adds up to the MAX_HINT
    error, which interactive calls raise only when the slot itself is that far away."""
    while True:
        turn = ctx.governor.turn(deferrable=kind == WATCH)
        if turn.wait > MAX_HINT and ctx.interactive:
            raise RateLimitError(f"The rate limit pauses requests to {ctx.base_url} for another "
                                 f"{turn.wait:.0f} s; retry after that.", retry_after=turn.wait,
                                 status_code=429)
        if turn.sleep > 0:
            yield Sleep(turn.sleep, "rate limit")
        if turn.booked:
            return


def send(ctx: Context, request: httpx.Request, *, kind: str = IDEMPOTENT, expect_json: bool = True,
         run_id: str | None = None, flight: Flight | None = None,
         ) -> Generator[Step, Any, tuple[httpx.Response, Any]]:
    """Send one logical request with the governor and the retry rule above; return (response, body).
    A start's `flight` carries when its request went out, and None again once the server provably
    made nothing (claims.Flight: a sibling start settling a lost answer counts on it)."""
    attempt = 0
    governed = ctx.same_origin(request)
    while True:
        if governed:
            yield from take_turn(ctx, kind)
        sent = ctx.wall()
        if flight is not None:
            flight.sent = sent
        result = yield request
        if isinstance(result, httpx.TransportError):
            if flight is not None and isinstance(result, NOT_SENT):
                flight.sent = None
            if kind == CREATE and not isinstance(result, NOT_SENT):
                raise OutcomeUnknown(f"{type(result).__name__} after the request was sent",
                                     busy=isinstance(result, httpx.TimeoutException), sent=sent)
            if attempt >= ctx.max_retries or not isinstance(result, TRANSIENT):
                raise transport_error(result, ctx.base_url, attempt + 1)
            yield Sleep(backoff(attempt, ctx.rng))
            attempt += 1
            continue
        response: httpx.Response = result
        body, readable = parse_body(response) if response.content else (None, not expect_json)
        status = response.status_code
        hint = retry_hint(response, body, ctx.wall()) if status in (408, 409, 429) or status >= 500 else None
        if governed:
            ctx.governor.observe(status, response.headers, hint if status == 429 and hint else None)
        if 200 <= status < 300:
            if readable or not expect_json:
                return response, body
            if kind == CREATE:
                raise OutcomeUnknown("an unreadable success response", sent=sent)
            if attempt >= ctx.max_retries:
                raise response_error(response, "not JSON")
            yield Sleep(backoff(attempt, ctx.rng))
            attempt += 1
            continue
        if kind == CREATE and status >= 500:
            raise OutcomeUnknown(f"HTTP {status} after the request was sent", busy=status == 504, sent=sent)
        retry = _retryable_status(status, body)  # for CREATE only 429 and 4xx reach this line
        if flight is not None:
            flight.sent = None  # refused: no run was made
        if hint is not None and hint > MAX_HINT and ctx.interactive and retry:
            raise error_from_response(response, run_id=run_id, retry_after=hint, retried=attempt)
        if not retry or attempt >= ctx.max_retries:
            raise error_from_response(response, run_id=run_id, retry_after=hint, retried=attempt)
        delay = hint if hint is not None and 0 < hint <= MAX_HINT else backoff(attempt, ctx.rng)
        if status == 429 and governed:
            ctx.governor.pause(delay)  # the next reserve() waits; everyone else waits too
        else:
            yield Sleep(delay)
        attempt += 1


def call(ctx: Context, method: str, template: str, *ids: str, kind: str = IDEMPOTENT,
         params: dict[str, Any] | None = None, json_body: Any = None, read_timeout: float | None = None,
         run_id: str | None = None, expect: type | None = dict, flight: Flight | None = None,
         check: Callable[[Any], str | None] | None = None) -> Generator[Step, Any, tuple[Any, dict]]:
    """A JSON API call: returns (envelope["data"], envelope), checking the data's shape (and, with
    `check`, its content: check(data) names the problem or returns None)."""
    request = ctx.request(method, template, *ids, params=params, json_body=json_body,
                          read_timeout=read_timeout)
    response, body = yield from send(ctx, request, kind=kind, run_id=run_id, flight=flight)
    if not isinstance(body, dict):
        if kind == CREATE:
            raise OutcomeUnknown("a success response without a JSON object")
        raise response_error(response, "expected a JSON object")
    if expect is None:
        return body, body
    data = body.get("data", body)
    if not isinstance(data, expect):
        if kind == CREATE:
            raise OutcomeUnknown("a success response without run data")
        shape = "object" if expect is dict else "array"
        raise response_error(response, f"expected 'data' to be a JSON {shape}")
    problem = check(data) if check is not None else None
    if problem:
        if kind == CREATE:
            raise OutcomeUnknown(f"a success response with {problem}")
        raise response_error(response, problem)
    return data, body
