"""The ASGI entry point: per request it assigns a request id, fires scripted faults, enforces the
rate limit and auth, calls the route handler and writes the reply with the common headers."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import uuid
from typing import Any

from .errors import CODES, PLAIN_TEXT_429, ApiError, render
from .faults import Fault, abort_connection
from .state import State
from .web import Ctx, Reply, Router, not_found

log = logging.getLogger("lamina_jupyter.emulator")
LOOPBACK = ("127.0.0.1", "::1", "localhost")
HTML_502 = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
    b"</center><hr><center>nginx</center></body></html>\n"
)


class EmulatorApp:
    def __init__(self, state: State, router: Router) -> None:
        self.state, self.router = state, router

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                pass
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        ctx = Ctx(scope, receive, send, str(uuid.uuid4()))
        try:
            await self.handle(ctx)
        except Exception:  # last resort: keep serving and answer with the documented envelope
            log.exception("emulator handler crashed on %s %s", ctx.method, ctx.path)
            if not ctx.response_started:
                await ctx.write(self.error_reply(ctx, ApiError("INTERNAL_ERROR")))

    async def handle(self, ctx: Ctx) -> None:
        state = self.state
        route, params, other = self.router.match(ctx.method, ctx.path)
        if route is not None:
            ctx.family = route.family
        elif ctx.path.startswith("/api/"):
            ctx.family = "legacy"
        admin = route is not None and route.family == "admin"
        api = route is None or route.is_api
        if api:
            state.stats.requests += 1
        if not admin:
            state.stats.requests_by_route[route.name if route else "unmatched"] += 1
        fault = None if admin else state.faults.take(ctx.method, ctx.path)
        if fault is not None:
            done = await self.fire_before(ctx, fault)
            if done:
                return
        if api and not await self.rate_limit(ctx):
            return
        try:
            if route is None:
                raise not_found(ctx, other)
            if api or admin:
                self.authenticate(ctx, admin)
            reply = await route.handler(ctx, state, fault=fault, **params)
        except ApiError as err:
            reply = self.error_reply(ctx, err)
        if reply is None:  # the handler streamed its own response
            return
        if fault is not None and fault.kind == "delay" and fault.params.get("after"):
            await self.sleep(float(fault.params.get("seconds", 1.0)))  # done, but the answer is late
        if fault is not None and fault.kind == "status" and fault.params.get("after"):
            await self.answer_status(ctx, fault.params)  # done, but a proxy answers with an error
            return
        if fault is not None and fault.kind == "accept_then_drop":
            await abort_connection(ctx.receive, bool(fault.params.get("fin")))
            return
        await ctx.write(reply, truncated=fault is not None and fault.kind == "truncated")

    # faults ----------------------------------------------------------------------------------
    async def fire_before(self, ctx: Ctx, fault: Fault) -> bool:
        """Faults that answer instead of the handler; True when the request is fully handled."""
        p = fault.params
        if fault.kind == "reset":
            await abort_connection(ctx.receive, bool(p.get("fin")))
            return True
        if fault.kind == "delay" and not p.get("after"):
            await self.sleep(float(p.get("seconds", 1.0)))
            return False
        if fault.kind == "html":
            await ctx.write(Reply(int(p.get("status", 502)), HTML_502, "text/html; charset=utf-8"))
            return True
        if fault.kind == "malformed_json":
            await ctx.write(Reply(200, b'{"data": {"runId": "' + ctx.request_id.encode() + b'", "status": '))
            return True
        if fault.kind == "status" and not p.get("after"):
            await self.answer_status(ctx, p)
            return True
        return False  # accept_then_drop, truncated, drop_stream, status after=True act after the handler

    async def answer_status(self, ctx: Ctx, p: dict[str, Any]) -> None:
        status, code = status_and_code(p.get("status"), p.get("code"))
        retry_after = p.get("retry_after")
        if p.get("plain_text"):
            headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
            body = (p.get("message") or PLAIN_TEXT_429).encode()
            await ctx.write(Reply(status, body, "text/plain; charset=utf-8", headers))
        else:
            err = ApiError(code, p.get("message"), status=status, retry_after=retry_after)
            await ctx.write(self.error_reply(ctx, err))

    async def sleep(self, seconds: float) -> None:
        closing = self.state.closing
        if closing is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(closing.wait(), seconds)

    # rate limit and auth -----------------------------------------------------------------------
    async def rate_limit(self, ctx: Ctx) -> bool:
        settings = self.state.settings
        if settings.rate_limit is None:
            return True
        # Per IP, as documented: every key from one address, invalid ones included, shares the budget.
        verdict = self.state.limiter.check(ctx.client_host, settings.rate_limit, 60.0 * settings.time_factor,
                                           settings.rate_limit_window)
        if settings.rate_limit_headers == "always" or not verdict.allowed:
            ctx.extra_headers.update(verdict.headers())
        if verdict.allowed:
            return True
        self.state.stats.rate_limited += 1
        err = ApiError(
            "RATE_LIMITED",
            f"Rate limit of {verdict.limit} requests per window exceeded; "
            f"retry after {verdict.retry_after} s",
            retry_after=verdict.retry_after,
        )
        await ctx.write(self.error_reply(ctx, err))
        return False

    def authenticate(self, ctx: Ctx, admin: bool) -> None:
        key = presented_key(ctx)
        if not key:
            raise ApiError("AUTH_MISSING_KEY", "Missing API key")
        if not hmac.compare_digest(key.encode("utf-8", "replace"), self.state.api_key.encode()):
            raise ApiError("AUTH_INVALID_KEY", "Invalid API key")
        workspace = ctx.headers.get("x-workspace-id")
        if workspace is not None and workspace != self.state.workspace_id:
            raise ApiError("FORBIDDEN", "Workspace header does not match API key workspace scope")
        if admin and ctx.client_host not in LOOPBACK:
            raise ApiError("FORBIDDEN", "The emulator admin surface is only served to loopback clients")

    def error_reply(self, ctx: Ctx, err: ApiError) -> Reply:
        status, body, headers = render(err, ctx.request_id, "legacy" if ctx.family == "legacy" else "v1")
        return Reply(status, body, headers.pop("content-type"), headers)


STATUS_CODES = {
    400: "VALIDATION_ERROR",
    401: "AUTH_INVALID_KEY",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    429: "RATE_LIMITED",
    503: "RESOURCE_UNAVAILABLE",
}


def status_and_code(status: Any, code: Any) -> tuple[int, str]:
    """Fill whichever of status/code the fault left out from the other (default 503)."""
    if status is None and code is None:
        return 503, "RESOURCE_UNAVAILABLE"
    if status is None:
        return CODES.get(code, (500, True))[0], code
    status = int(status)
    return status, code or STATUS_CODES.get(status, "INTERNAL_ERROR")


def presented_key(ctx: Ctx) -> str:
    key = ctx.headers.get("x-api-key", "").strip()
    if key:
        return key
    auth = ctx.headers.get("authorization", "").strip()
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return ""


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()
