"""How long one step of a flow may take and how much it may read: the rule both drivers enforce.

httpx's timeouts apply to each socket operation, so a server that sends one byte a second, or an
event stream that only ever pings, never trips them. So every step gets a total bound:

- one request attempt (headers and body) ends within `request_budget`: its connect timeout plus
  its read timeout, counted once for the whole response instead of per read, plus a second per
  100 kB it uploads (defaults: 5 + 30 = 35 s). Past that it fails like a read timeout (and is
  retried like one, up to max_retries);
- inside wait()/stream()/run() nothing outlives the watch's deadline (the `Deadline` step): a
  request, an event-stream line or a sleep that would end later is cut there, and the flow gets
  `DeadlineExceeded` (the caller gets WaitTimeout);
- a JSON API body, or one event-stream line, larger than MAX_BODY is refused with ResponseError.

The sync driver checks the bound between chunks and clips every per-read timeout to the time left
(a read blocked on a silent socket cannot be interrupted); the async one also runs each step under
asyncio.wait_for. Both collect bodies and split lines with the classes below.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from .errors import ResponseError, response_error
from .protocol import DeadlineExceeded

MAX_BODY = 16 * 1024 * 1024   # bytes: the largest JSON body or event-stream line we read
UPLOAD_RATE = 100_000         # bytes per second: the slowest upload the total bound allows for


def request_budget(request: httpx.Request) -> float | None:
    """Total seconds one attempt of `request` may take (None: the client has no read timeout)."""
    timeout = request.extensions.get("timeout") or {}
    if timeout.get("read") is None:
        return None
    size = int(request.headers.get("Content-Length") or 0)
    return (timeout.get("connect") or 0.0) + timeout["read"] + size / UPLOAD_RATE


@dataclass(frozen=True)
class Bound:
    """When the current step must end (monotonic seconds, None: never) and why."""

    until: float | None
    ends_watch: bool = False   # the watch's deadline, rather than the request's own budget
    budget: float | None = None

    @classmethod
    def of(cls, request: httpx.Request | None, watch_end: float | None) -> Bound:
        budget = request_budget(request) if request is not None else None
        own = time.monotonic() + budget if budget is not None else None
        if watch_end is not None and (own is None or watch_end <= own):
            return cls(watch_end, True, budget)
        return cls(own, False, budget)

    def left(self) -> float | None:
        return None if self.until is None else self.until - time.monotonic()

    def passed(self) -> bool:
        left = self.left()
        return left is not None and left <= 0

    def expired(self, request: httpx.Request | None) -> Exception:
        if self.ends_watch:
            return DeadlineExceeded()
        return httpx.ReadTimeout(f"the response took more than {self.budget:g} s in total (connect + read "
                                 "timeouts)", request=request)

    def check(self, request: httpx.Request) -> None:
        if self.passed():
            raise self.expired(request)


@contextmanager
def clipped(request: httpx.Request, bound: Bound, restore: bool = True) -> Iterator[None]:
    """Every per-operation timeout of `request` no longer than the time left (restored afterwards:
    a retry sends the same request again)."""
    original = request.extensions.get("timeout") or {}
    left = bound.left()
    if left is not None:
        left = max(left, 0.001)
        request.extensions["timeout"] = {k: left if v is None else min(v, left) for k, v in
                                         {"connect": None, "read": None, "write": None, "pool": None,
                                          **original}.items()}
    try:
        yield
    finally:
        if restore:
            request.extensions["timeout"] = original


class Body:
    """Collects a response body chunk by chunk, refusing one larger than MAX_BODY or later than the
    bound; `done()` hands back the response with its body in place."""

    def __init__(self, response: httpx.Response, bound: Bound) -> None:
        self.response, self.bound = response, bound
        self.chunks: list[bytes] = []
        self.size = 0

    def add(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.size += len(chunk)
        if self.size > MAX_BODY:
            raise too_big(self.response, b"".join(self.chunks)[:1024])
        self.bound.check(self.response.request)

    def done(self) -> httpx.Response:
        self.response._content = b"".join(self.chunks)  # what Response.read() sets
        return self.response


def too_big(response: httpx.Response, start: bytes) -> ResponseError:
    response._content = start  # the excerpt the message quotes
    return response_error(response, f"the body is larger than {MAX_BODY >> 20} MiB, the most this client "
                                    "reads")


class Lines:
    """Splits an event stream's bytes into lines (LF, CRLF or CR), refusing a line over MAX_BODY."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.pending = bytearray()

    def feed(self, chunk: bytes) -> list[str]:
        self.pending += chunk
        parts: list[bytes] = []
        if b"\n" in chunk or b"\r" in chunk:
            held = b"\r" if self.pending.endswith(b"\r") else b""  # its \n may come in the next chunk
            data = bytes(self.pending[:len(self.pending) - len(held)])
            parts = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
            self.pending = bytearray(parts.pop() + held)
        if len(self.pending) > MAX_BODY:
            raise too_big(self.response, bytes(self.pending[:1024]))
        return [p.decode("utf-8", "replace") for p in parts]

    def close(self) -> list[str]:
        rest, self.pending = bytes(self.pending), bytearray()
        return [rest.rstrip(b"\r").decode("utf-8", "replace")] if rest else []


def sleep_within(seconds: float, watch_end: float | None) -> tuple[float, bool]:
    """How long to sleep, and whether the watch's deadline passes first (then sleep only to it)."""
    if watch_end is None:
        return seconds, False
    left = max(0.0, watch_end - time.monotonic())
    return min(seconds, left), seconds > left
