"""Watching a run until it ends: server long-poll (/wait), server-sent events (/stream), polling.

v1 prefers /wait (one held request per up to 60 s) or, when someone wants live progress, the SSE
stream; either falls back to polling when it fails. The legacy family can only poll. Polling looks
early for short jobs (0.5 s, then ×1.5) and settles at Lamina's recommended cadence: 3 s for the
first minute (docs: 3-5 s for images), 5 s up to five minutes, then 10 s (video guidance).
Every new state is emitted (`Emit(run)`) for on_update callbacks and stream iterators. Each of these
requests is a WATCH for the rate governor: it yields its slot to starts waiting for one.
"""

from __future__ import annotations

import json
import math
import warnings
from typing import Any

from .errors import (
    APIError,
    AuthenticationError,
    LaminaWarning,
    RateLimitError,
    ResponseError,
    RunFailedError,
    ServerError,
    TransportError,
    WaitTimeout,
)
from .flows import followed, get_run, parse_run, run_id_of, run_problem, start
from .models import Run
from .protocol import (
    WATCH,
    CloseStream,
    Context,
    Deadline,
    DeadlineExceeded,
    Emit,
    Flow,
    NextLine,
    OpenStream,
    Sleep,
    call,
    take_turn,
)

DEFAULT_TIMEOUT = 600.0      # interactive deadline (reliability.md §8)
WAIT_WINDOW = 60             # seconds per /wait call (docs: 60 for images, max 120)
MAX_POLL_FAILURES = 5        # consecutive failed polls before giving up
GRACE = 1.0                  # seconds past the timeout the driver still lets a request finish (a /wait
                             # timed to end at the deadline answers then); nothing runs longer
DRAIN_LINES, DRAIN_SECONDS = 8, 1.0  # reading a stream's end after its final event (see _sse_events)
KNOWN_STATUSES = {"queued", "running", "completed", "failed", "cancelled"}
TRANSIENT = (TransportError, ResponseError, ServerError)


def poll_interval(n: int, elapsed: float, jitter: float) -> float:
    """The n-th pause between polls (jitter in [0.8, 1.2])."""
    cap = 3.0 if elapsed < 60 else 5.0 if elapsed < 300 else 10.0
    return min(0.5 * 1.5 ** n, cap) * jitter


def _fingerprint(run: Run) -> Any:
    return (run.status, run.progress, tuple((o.id, o.status, o.value) for o in run.outputs))


class _Watcher:
    """Shared state of one watch: deadline, last state, change detection."""

    def __init__(self, ctx: Context, run: Run | str, timeout: float | None) -> None:
        self.ctx = ctx
        self.run_id = run_id_of(run)
        self.last: Run | None = run if isinstance(run, Run) else None
        self.seen: Any = None
        self.t0 = ctx.clock()
        self.deadline = self.t0 + (DEFAULT_TIMEOUT if timeout is None else timeout)
        self.warned = False

    def remaining(self) -> float:
        return self.deadline - self.ctx.clock()

    def timed_out(self) -> WaitTimeout:
        status = self.last.status if self.last else None
        return WaitTimeout(self.run_id, status, self.ctx.clock() - self.t0)

    def parse(self, data: Any) -> Run:
        """The run `data` describes, parsed once: a stream's first event repeats the start's answer,
        and a /wait that ends before the run does repeats the last state."""
        last = self.last
        if last is not None and data == last.raw:
            return followed(self.ctx, last)
        return parse_run(self.ctx, data)

    def update(self, run: Run) -> list[Emit]:
        self.last = run
        if run.status not in KNOWN_STATUSES and not self.warned:
            self.warned = True
            warnings.warn(f"Run {run.id} reports an unknown status {run.status!r}; still waiting.",
                          LaminaWarning, stacklevel=2)
        fingerprint = _fingerprint(run)
        if fingerprint == self.seen:
            return []
        self.seen = fingerprint
        return [Emit(run)]


def _poll(w: _Watcher, look_first: bool) -> Flow:
    n, failures = 0, 0
    while True:
        if look_first or n > 0:
            try:
                run = yield from get_run(w.ctx, w.run_id, kind=WATCH)
            except TRANSIENT + (APIError,) as exc:
                if not isinstance(exc, TRANSIENT) and not (isinstance(exc, APIError) and exc.retryable):
                    raise
                failures += 1
                if failures >= MAX_POLL_FAILURES:
                    raise
            else:
                failures = 0
                yield from w.update(run)
                if run.is_done:
                    return run
        remaining = w.remaining()
        if remaining <= 0:
            raise w.timed_out()
        elapsed = w.ctx.clock() - w.t0
        yield Sleep(min(poll_interval(n, elapsed, 0.8 + 0.4 * w.ctx.rng.random()), remaining), "poll")
        n += 1


def _long_poll(w: _Watcher) -> Flow:
    """/wait until terminal; returns the run, or None when the endpoint fails (caller polls)."""
    while True:
        remaining = w.remaining()
        if remaining <= 0:
            raise w.timed_out()
        window = max(1, min(WAIT_WINDOW, math.ceil(remaining)))
        try:
            data, _ = yield from call(w.ctx, "GET", "/v1/runs/{}/wait", w.run_id, kind=WATCH,
                                      params={"timeout": window}, read_timeout=window + 15.0,
                                      run_id=w.run_id, check=run_problem)
        except (AuthenticationError, RateLimitError):
            raise
        except (APIError, TransportError):
            return None
        run = w.parse(data)
        yield from w.update(run)
        if run.is_done:
            return run


def _sse_events(w: _Watcher) -> Flow:
    """Read one SSE connection; returns the terminal run, "reopen" on the 10-minute timeout event,
    or None when the stream failed (caller falls back to polling)."""
    request = w.ctx.request("GET", "/v1/runs/{}/stream", w.run_id, read_timeout=45.0,
                            headers={"Accept": "text/event-stream"})
    yield from take_turn(w.ctx, WATCH)
    opened = yield OpenStream(request)
    if not hasattr(opened, "status_code") or opened.status_code != 200:
        yield CloseStream()
        return None
    w.ctx.governor.observe(opened.status_code, opened.headers)
    result = yield from _read_events(w)
    if result is not None:  # the server ends the response right after the final event: reading that
        for _ in range(DRAIN_LINES):  # end lets the pool keep the connection (closing drops it)
            line = yield NextLine(DRAIN_SECONDS)
            if line is None or isinstance(line, Exception):
                break
    yield CloseStream()
    return result


def _read_events(w: _Watcher) -> Flow:
    event, data_lines = "message", []
    while True:
        if w.remaining() <= 0:  # pings and comments count too: they must not keep a wait alive
            raise w.timed_out()
        line = yield NextLine()
        if line is None or isinstance(line, Exception):
            return None
        if line.startswith(":"):
            continue
        if line:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data_lines.append(value)
            continue
        payload, kind = "\n".join(data_lines), event
        event, data_lines = "message", []
        if kind == "timeout":
            return "reopen"
        if kind not in ("progress", "complete", "error", "message") or not payload:
            continue
        try:
            parsed = json.loads(payload)
        except (ValueError, RecursionError):
            continue
        if not isinstance(parsed, dict):
            continue
        run = w.parse(parsed["data"] if isinstance(parsed.get("data"), dict) else parsed)
        yield from w.update(run)
        if run.is_done:
            return run


def watch(ctx: Context, run: Run | str, *, timeout: float | None = None, live: bool = False) -> Flow:
    """Follow a run to a terminal state, emitting each new state. `live` prefers SSE over /wait.
    The timeout is total: past it (plus GRACE) the driver cuts any request, stream line or sleep."""
    w = _Watcher(ctx, run, timeout)
    yield Deadline(w.remaining() + GRACE)
    try:
        return (yield from _follow(w, live))
    except DeadlineExceeded:
        raise w.timed_out() from None


def _follow(w: _Watcher, live: bool) -> Flow:
    ctx = w.ctx
    if w.last is not None:
        yield from w.update(w.last)
        if w.last.is_done:
            return w.last
    strategy = ctx.strategy if ctx.strategy != "auto" else ("stream" if live else "wait")
    if ctx.api == "v1" and strategy == "stream":
        while True:
            outcome = yield from _sse_events(w)
            if isinstance(outcome, Run):
                return outcome
            if outcome is None or w.remaining() <= 0:
                break
    elif ctx.api == "v1" and strategy == "wait":
        result = yield from _long_poll(w)
        if result is not None:
            return result
    return (yield from _poll(w, look_first=w.last is None or strategy != "poll"))


def run_to_end(ctx: Context, app: Any, inputs: Any, *, webhook: str | None = None, outputs: Any = None,
               timeout: float | None = None, live: bool = False, raise_on_failure: bool = True) -> Flow:
    """start + watch; a failed or cancelled run raises RunFailedError (carrying the run) if asked."""
    run = yield from start(ctx, app, inputs, webhook, outputs)
    final = yield from watch(ctx, run, timeout=timeout, live=live)
    if raise_on_failure and final.status != "completed":
        raise RunFailedError(final)
    return final
