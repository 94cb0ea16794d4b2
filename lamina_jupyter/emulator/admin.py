"""`/_emulator/*`: the admin surface, so a process that did not start the emulator can drive it.

Loopback clients only, API key required, never rate limited or faulted. Mirrors the Python API:
stats, runs, faults (inject/clear), config (configure) and the webhook delivery log.
"""

from __future__ import annotations

from typing import Any

from .errors import ApiError, invalid
from .state import State
from .web import Ctx, Reply, Router, json_reply


def register(router: Router, control: Any) -> None:
    """`control` is the Emulator-side object with the thread-agnostic operations (see server.py)."""

    @router.add("GET", "/_emulator/stats", "admin")
    async def stats(ctx: Ctx, state: State, **_: Any) -> Reply:
        return json_reply({"data": state.stats.snapshot()})

    @router.add("POST", "/_emulator/stats/reset", "admin")
    async def reset_stats(ctx: Ctx, state: State, **_: Any) -> Reply:
        state.stats.reset()
        return json_reply({"data": state.stats.snapshot()})

    @router.add("GET", "/_emulator/runs", "admin")
    async def runs(ctx: Ctx, state: State, **_: Any) -> Reply:
        return json_reply({"data": control.runs_now()})

    @router.add("GET", "/_emulator/faults", "admin")
    async def faults(ctx: Ctx, state: State, **_: Any) -> Reply:
        return json_reply({"data": [f.to_json() for f in state.faults.faults]})

    @router.add("POST", "/_emulator/faults", "admin")
    async def inject(ctx: Ctx, state: State, **_: Any) -> Reply:
        body = await ctx.json_body()
        kind = body.pop("kind", None)
        params = body.pop("params", {}) or {}
        if not isinstance(kind, str) or not isinstance(params, dict):
            raise invalid(
                "kind", "invalid_type", 'Send {"kind": ..., "route": ..., "times": ..., "params": {...}}'
            )
        try:
            fault = state.faults.add(kind, body.pop("route", "*"), body.pop("times", 1), **params, **body)
        except (ValueError, TypeError) as exc:
            raise invalid("kind", "invalid_option", str(exc)) from None
        return json_reply({"data": fault.to_json()}, 201)

    @router.add("DELETE", "/_emulator/faults", "admin")
    async def clear(ctx: Ctx, state: State, **_: Any) -> Reply:
        state.faults.clear()
        return json_reply({"data": []})

    @router.add("GET", "/_emulator/config", "admin")
    async def get_config(ctx: Ctx, state: State, **_: Any) -> Reply:
        return json_reply({"data": state.settings.as_dict()})

    @router.add("POST", "/_emulator/config", "admin")
    async def set_config(ctx: Ctx, state: State, **_: Any) -> Reply:
        body = await ctx.json_body()
        try:
            control.configure_now(**body)
        except (ValueError, TypeError) as exc:
            raise ApiError("VALIDATION_ERROR", str(exc)) from None
        return json_reply({"data": state.settings.as_dict()})

    @router.add("GET", "/_emulator/webhooks", "admin")
    async def webhooks(ctx: Ctx, state: State, **_: Any) -> Reply:
        return json_reply({"data": control.deliverer.attempts()})
