"""`GET /v1/runs/{id}/stream`: Server-Sent Events as documented.

`progress` on connect and whenever one of the server's checks (every 2 s, see checks.py) finds the
run changed (status or an output completing; changes between two checks show as one), then exactly
one `complete` (completed) or `error` (failed/cancelled) and close; a run already terminal on
connect gets just that one event. `ping` (epoch ms) every 15 s and `timeout` after 10 min, both scaled by
time_factor. The `drop_stream` fault closes the stream after `after_events` events (cleanly, or
with an RST when `abrupt=True`).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from .checks import Checks
from .faults import Fault, abort_connection
from .run import Run
from .runs import find_run
from .state import State
from .web import Ctx, Router

PING_EVERY = 15.0
STREAM_CAP = 600.0


def register(router: Router) -> None:
    @router.add("GET", "/v1/runs/{run_id}/stream", "v1")
    async def stream(ctx: Ctx, state: State, run_id: str, fault: Fault | None = None, **_: Any) -> None:
        run = find_run(state, run_id)
        drop_after = None
        if fault is not None and fault.kind == "drop_stream":
            drop_after = int(fault.params.get("after_events", 1))
        await ctx.start(200, "text/event-stream", {"cache-control": "no-cache", "x-accel-buffering": "no"})
        session = _Session(ctx, state, drop_after, bool(fault and fault.params.get("abrupt")))
        await session.run(run)


class _Session:
    def __init__(self, ctx: Ctx, state: State, drop_after: int | None, abrupt: bool) -> None:
        self.ctx, self.state, self.drop_after, self.abrupt = ctx, state, drop_after, abrupt
        self.sent = 0
        self.disconnected = asyncio.Event()

    async def run(self, run: Run) -> None:
        watcher = asyncio.ensure_future(self._watch_disconnect())
        try:
            await self._maybe_drop()
            await self._events(run)
        except _Dropped:
            return
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        if not self.disconnected.is_set():
            await self.ctx.send({"type": "http.response.body", "body": b""})

    async def _events(self, run: Run) -> None:
        loop = asyncio.get_running_loop()
        factor = self.state.settings.time_factor
        checks = Checks(self.state, run)
        cap_at = checks.opened + STREAM_CAP * factor
        if not checks.terminal:
            await self._send("progress", checks.last)
        ping_at = loop.time() + PING_EVERY * factor
        while not checks.terminal:
            if loop.time() >= cap_at:
                await self._send("timeout", {"message": "Stream timeout after 10 minutes"})
                return
            closing = [self.state.closing] if self.state.closing else []
            changed = await checks.changed([self.disconnected, *closing], min(ping_at, cap_at))
            if self.disconnected.is_set() or (self.state.closing and self.state.closing.is_set()):
                return
            if changed and not checks.terminal:
                await self._send("progress", checks.last)
            elif not changed and loop.time() < cap_at:
                await self._send("ping", int(time.time() * 1000))
            ping_at = loop.time() + PING_EVERY * factor
        await self._send("complete" if checks.last["status"] == "completed" else "error", checks.last)

    async def _send(self, event: str, data: Any) -> None:
        payload = f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()
        await self.ctx.send({"type": "http.response.body", "body": payload, "more_body": True})
        self.sent += 1
        await self._maybe_drop()

    async def _maybe_drop(self) -> None:
        """The drop_stream fault: end the stream once `after_events` events went out."""
        if self.drop_after is not None and self.sent >= self.drop_after:
            if self.abrupt:
                await abort_connection(self.ctx.receive)
            else:
                await self.ctx.send({"type": "http.response.body", "body": b""})
            raise _Dropped

    async def _watch_disconnect(self) -> None:
        while (await self.ctx.receive())["type"] != "http.disconnect":
            pass
        self.disconnected.set()


class _Dropped(Exception):
    """The drop_stream fault ended the stream early."""
