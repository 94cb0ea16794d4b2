"""Drive sans-IO flows with canned responses and a fake clock: no network, no real time."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import httpx

from lamina_jupyter.core.protocol import CloseStream, Context, Emit, NextLine, OpenStream, Sleep
from lamina_jupyter.core.ratelimit import RateGovernor

BASE = "https://lamina.test"


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def make_ctx(api: str = "v1", **kw: Any) -> Context:
    clock = FakeClock()
    wall = FakeClock(1_767_225_600.0)
    ctx = Context(base_url=BASE, api=api, governor=RateGovernor(clock=clock, wall=wall), clock=clock,
                  wall=wall, rng=random.Random(7), **kw)
    return ctx


def reply(request: httpx.Request, status: int = 200, body: Any = None, *, text: str | None = None,
          headers: dict[str, str] | None = None) -> httpx.Response:
    if text is None:
        content = json.dumps(body).encode() if body is not None else b""
        ctype = "application/json"
    else:
        content, ctype = text.encode(), "text/plain"
    return httpx.Response(status, content=content, headers={"content-type": ctype, **(headers or {})},
                          request=request)


class Trace:
    """What a flow did: requests sent, sleeps taken, values emitted, and its result or error."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.sleeps: list[Sleep] = []
        self.emitted: list[Any] = []
        self.result: Any = None
        self.steps: list[Any] = []

    @property
    def routes(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]


Responder = Callable[[httpx.Request], Any]


def drive(ctx: Context, flow: Any, responder: Responder, lines: list[Any] | None = None) -> Trace:
    """Run `flow` to the end. `responder(request)` returns an httpx.Response or an exception instance
    (fed back like the real drivers do). Sleeps advance the fake clock. Errors propagate with
    `.trace` attached for assertions."""
    trace = Trace()
    value: Any = None
    pending_lines = list(lines or [])
    try:
        while True:
            step = flow.send(value)
            trace.steps.append(step)
            value = None
            if isinstance(step, httpx.Request):
                trace.requests.append(step)
                value = responder(step)
            elif isinstance(step, Sleep):
                trace.sleeps.append(step)
                ctx.clock.now += step.seconds
            elif isinstance(step, Emit):
                trace.emitted.append(step.value)
            elif isinstance(step, OpenStream):
                trace.requests.append(step.request)
                value = responder(step.request)
            elif isinstance(step, NextLine):
                value = pending_lines.pop(0) if pending_lines else None
            elif isinstance(step, CloseStream):
                pass
    except StopIteration as stop:
        trace.result = stop.value
        return trace
    except Exception as exc:
        exc.trace = trace  # type: ignore[attr-defined]
        raise


def script(*items: Any) -> Responder:
    """Answer requests in order: each item is (status, body) / (status, body, headers) / an exception /
    a callable(request) -> response."""
    queue = list(items)

    def respond(request: httpx.Request) -> Any:
        assert queue, f"unexpected extra request {request.method} {request.url}"
        item = queue.pop(0)
        if isinstance(item, BaseException):
            return item
        if callable(item):
            return item(request)
        status, body, *rest = item
        return reply(request, status, body, headers=rest[0] if rest else None)

    respond.queue = queue  # type: ignore[attr-defined]
    return respond


def run_json(run_id: str = "run-1", status: str = "queued", **extra: Any) -> dict[str, Any]:
    return {"runId": run_id, "workflowId": APP_ID, "status": status, "outputs": [], "errorMessage": None,
            "createdAt": "2026-01-01T00:00:00.000Z", **extra}


APP_ID = "3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a01"
APP_JSON = {
    "appId": APP_ID, "name": "Text to Image", "description": "d",
    "parameters": [
        {"id": "prompt", "key": "prompt_text", "name": "Prompt", "type": "text", "required": True},
        {"id": "style", "key": "style", "name": "Style", "type": "options", "required": True,
         "options": ["Photographic", "Watercolor", "Neon", "Pixel Art"], "default": "Photographic"},
        {"id": "upload", "key": "photo_url", "name": "Upload", "type": "url", "required": True,
         "accept": ["image"], "default": "https://example.com/a.png"},
    ],
    "outputs": [{"index": 0, "label": "Image", "type": "image"}],
}
