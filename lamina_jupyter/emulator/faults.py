"""Scripted faults (FIFO per route glob) and the socket tricks behind the wire-level ones.

Resetting a connection from inside an ASGI app: uvicorn's `receive` callable is a bound method of
the protocol's RequestResponseCycle, whose `.transport` is the asyncio transport of the client
socket. Setting SO_LINGER to (on, 0 s) on that socket and calling `transport.abort()` makes the
kernel send an RST instead of a FIN; httpx usually reports it as ReadError ("Connection reset by
peer"), sometimes as RemoteProtocolError when it notices the dead socket first. With `fin=True`
the connection is closed normally before any answer, which httpx reports as RemoteProtocolError
("Server disconnected"). Afterwards we drain `receive()` until uvicorn reports `http.disconnect`,
so it neither logs "returned without starting response" nor sends a 500.
"""

from __future__ import annotations

import contextlib
import fnmatch
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

KINDS = ("status", "html", "reset", "accept_then_drop", "delay", "malformed_json", "truncated", "drop_stream",
         "listing_lag")
PARAMS = {
    # after=True: the handler runs first (a 503/504 from a proxy after the server made the run)
    "status": {"status", "code", "retry_after", "plain_text", "message", "after"},
    "html": {"status"},
    "reset": {"fin"},
    "accept_then_drop": {"fin"},
    "delay": {"seconds", "after"},  # after=True: the handler runs first (e.g. the run exists)
    "malformed_json": set(),
    "truncated": set(),
    "drop_stream": {"after_events", "abrupt"},
    "listing_lag": {"seconds"},  # GET /v1/runs shows a new run only `seconds` after its creation
}


@dataclass
class Fault:
    kind: str
    route: str
    times: int | None
    params: dict[str, Any] = field(default_factory=dict)

    def matches(self, method: str, path: str) -> bool:
        if self.route == "*":
            return True
        want_method, _, want_path = self.route.partition(" ")
        if not want_path:  # a bare glob means any method
            want_method, want_path = "*", want_method
        return fnmatch.fnmatchcase(method, want_method.upper()) and fnmatch.fnmatchcase(path, want_path)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "route": self.route, "times": self.times, "params": self.params}


class FaultQueue:
    """Faults are consumed first-in first-out: the oldest matching fault fires, `times` counts down."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.fired = 0

    def add(self, kind: str, route: str = "*", times: int | None = 1, **params: Any) -> Fault:
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; choose one of: {', '.join(KINDS)}")
        unknown = set(params) - PARAMS[kind]
        if unknown:
            raise ValueError(
                f"fault {kind!r} takes no parameter(s) {sorted(unknown)}; "
                f"allowed: {sorted(PARAMS[kind]) or 'none'}"
            )
        if times is not None and times < 1:
            raise ValueError("times must be a positive integer or None (until cleared)")
        fault = Fault(kind, route, times, params)
        self.faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                self.fired += 1
                return fault
        return None

    def clear(self) -> None:
        self.faults.clear()


async def abort_connection(receive: Any, fin: bool = False) -> None:
    """Send an RST to the client (see module docstring), or a plain FIN when `fin`, and wait until
    uvicorn notices."""
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is None:  # not running under uvicorn: nothing better than letting the app fail
        raise ConnectionAbortedError("cannot reach the client socket to reset it")
    sock = transport.get_extra_info("socket")
    if fin:
        transport.close()
    else:
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    while (await receive())["type"] != "http.disconnect":
        pass
