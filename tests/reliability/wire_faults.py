"""A tiny scripted HTTP/1.1 server on loopback for the wire faults the emulator cannot make.

Each request gets the next action of the script (then `fallback`): a plain response with any status,
headers and body (a 429 with only a body hint, a 200 whose JSON is 100k brackets deep, a 50 MB
image), or a wire fault: RST before the answer (SO_LINGER 0), FIN without a response, headers then a
stall, a garbage status line, a body cut short by an RST. Requests are recorded as "METHOD /path".
Everything runs on threads the server joins in `close()`, so hygiene checks see no leftovers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any


@dataclass
class Respond:
    status: int = 200
    body: Any = b""  # bytes, str, or anything JSON-serialisable
    headers: dict[str, str] = field(default_factory=dict)
    fault: bool | None = None  # counted in `fired`; default: any status >= 400

    @property
    def is_fault(self) -> bool:
        return self.status >= 400 if self.fault is None else self.fault

    def payload(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), "application/json"


RST, FIN, GARBAGE = "rst", "fin", "garbage"


@dataclass
class Stall:
    """Send the status line and headers, then nothing for `seconds` (then RST)."""

    seconds: float = 5.0


@dataclass
class Truncated:
    """Promise `body` in Content-Length, send half of it, then RST."""

    body: bytes


Action = Any  # Respond | Stall | Truncated | "rst" | "fin" | "garbage"


class WireServer:
    def __init__(self, *script: Action, fallback: Action = None) -> None:
        self.script: list[Action] = list(script)
        self.fallback = fallback if fallback is not None else Respond(404, {"error": "no script"})
        self.requests: list[str] = []
        self.fired = 0  # faults served: wire faults, error statuses, bodies marked fault=True
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.05)
        self.base_url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        accept = threading.Thread(target=self._accept, name="wire-accept", daemon=True)
        self._threads.append(accept)
        accept.start()

    def add(self, *actions: Action) -> None:
        with self._lock:
            self.script.extend(actions)

    def count(self, route: str) -> int:
        """Requests whose "METHOD /path" starts with `route`."""
        return sum(r.startswith(route) for r in self.requests)

    def _next(self) -> Action:
        with self._lock:
            return self.script.pop(0) if self.script else self.fallback

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            conn.settimeout(0.1)
            worker = threading.Thread(target=self._serve, args=(conn,), name="wire-conn", daemon=True)
            with self._lock:
                self._conns.append(conn)
                self._threads.append(worker)
            worker.start()

    def _read_request(self, conn: socket.socket, buf: bytearray) -> str | None:
        while b"\r\n\r\n" not in buf:
            if self._stop.is_set():
                return None
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return None
            if not chunk:
                return None
            buf += chunk
        head, _, rest = bytes(buf).partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        sizes = [int(h.split(":", 1)[1]) for h in lines[1:] if h.lower().startswith("content-length:")]
        length = sizes[0] if sizes else 0
        while len(rest) < length and not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                rest += conn.recv(65536)
        buf[:] = rest[length:]
        method, target = lines[0].split(" ")[:2]
        return f"{method} {target}"

    def _serve(self, conn: socket.socket) -> None:
        buf = bytearray()
        with conn:
            while not self._stop.is_set():
                request = self._read_request(conn, buf)
                if request is None:
                    return
                self.requests.append(request)
                action = self._next()
                if not isinstance(action, Respond) or action.is_fault:
                    self.fired += 1
                if not self._act(conn, action):
                    return

    def _act(self, conn: socket.socket, action: Action) -> bool:
        """Perform one action; False when the connection is finished."""
        conn.settimeout(30)  # a slow reader of a 50 MB body is not a fault; reads poll every 0.1 s
        try:
            if action == RST:
                self._reset(conn)
                return False
            if action == FIN:
                conn.shutdown(socket.SHUT_RDWR)
                return False
            if action == GARBAGE:
                conn.sendall(b"HELLO WORLD GARBAGE\r\n\r\n")
                return False
            if isinstance(action, Stall):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 100\r\n\r\n")
                self._stop.wait(action.seconds)
                self._reset(conn)
                return False
            if isinstance(action, Truncated):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             + f"Content-Length: {len(action.body)}\r\n\r\n".encode()
                             + action.body[: len(action.body) // 2])
                self._reset(conn)
                return False
            body, ctype = action.payload()
            headers = {"Content-Type": ctype, "Content-Length": str(len(body)), "x-request-id": "req_wire_1",
                       **action.headers}
            head = f"HTTP/1.1 {action.status} {HTTPStatus(action.status).phrase}\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
            conn.sendall(head.encode("latin-1"))
            conn.sendall(body)  # not head + body: a 50 MB body must not be copied
            return True
        except OSError:
            return False
        finally:
            with contextlib.suppress(OSError):
                conn.settimeout(0.1)

    @staticmethod
    def _reset(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for thread in list(self._threads):
            thread.join(5)
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.close()

    def __enter__(self) -> WireServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# Helpers the matrix files share: one client call per test, on Client or AsyncClient ----------------
KINDS = ["sync", "async"]


def drive(kind: str, fn: Any, **kw: Any) -> Any:
    """Call fn(client) on a fresh Client, or on an AsyncClient inside asyncio.run, and close it."""
    from lamina_jupyter import AsyncClient, Client
    from lamina_jupyter.core.ratelimit import RateGovernor

    kw.setdefault("governor", RateGovernor())  # a private governor: a 429 here never pauses other tests
    if kind == "sync":
        with Client(**kw) as c:
            return fn(c)

    async def main() -> Any:
        async with AsyncClient(**kw) as c:
            return await fn(c)

    return asyncio.run(main())


def fired(emulator: Any) -> int:
    """Faults the emulator has fired so far (take a difference around the scenario)."""
    return int(emulator.state.faults.fired)


def on(emulator: Any) -> dict[str, Any]:
    return {"api_key": emulator.api_key, "base_url": emulator.base_url}


def run_body(run_id: str = "run_wire_1", status: str = "completed", **extra: Any) -> dict[str, Any]:
    """A v1 run envelope as the raw server sends it (one text output when completed)."""
    outputs = [{"id": "o1", "label": "Caption", "type": "text", "status": "completed", "value": "hi"}]
    data = {"runId": run_id, "status": status, "outputs": outputs if status == "completed" else [],
            "errorMessage": None, **extra}
    return {"data": data}
