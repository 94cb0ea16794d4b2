"""Tiny HTTP toolkit on raw ASGI: request context, replies and a route table.

We use raw ASGI rather than a framework router because several faults need the unprocessed
`receive`/`send` callables (connection resets, truncated bodies, dropped streams) and every
response needs the same headers (X-Request-Id, RateLimit-*).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from .errors import ApiError, invalid
from .faults import abort_connection

MAX_JSON_BODY = 1 << 20  # 1 MiB
MAX_DRAIN = 64 << 20  # read (and discard) up to this much of an oversized body before answering


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(payload: Any, status: int = 200) -> Reply:
    return Reply(status, json.dumps(payload, separators=(",", ":")).encode())


class Ctx:
    """One request: parsed method/path/query/headers, body reader, and the raw ASGI callables."""

    def __init__(self, scope: dict, receive: Callable, send: Callable, request_id: str) -> None:
        self.scope, self.receive, self.send = scope, receive, send
        self.request_id = request_id
        self.method: str = scope["method"].upper()
        self.path: str = scope["path"]
        raw_query = scope.get("query_string", b"").decode("latin-1")
        self.query = {k: v[-1] for k, v in parse_qs(raw_query, keep_blank_values=True).items()}
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        self.family = "v1"
        self.extra_headers: dict[str, str] = {}
        self.response_started = False

    @property
    def client_host(self) -> str:
        client = self.scope.get("client")
        return client[0] if client else ""

    def _headers(self, reply_headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
        headers = {"x-request-id": self.request_id, **self.extra_headers, **reply_headers}
        return [(k.encode(), v.encode("latin-1", "replace")) for k, v in headers.items()]

    async def start(self, status: int, content_type: str, extra: dict[str, str] | None = None) -> None:
        """Start a streamed response (SSE) with the common headers."""
        self.response_started = True
        headers = self._headers({"content-type": content_type, **(extra or {})})
        await self.send({"type": "http.response.start", "status": status, "headers": headers})

    async def write(self, reply: Reply, truncated: bool = False) -> None:
        """Send a whole reply; `truncated` sends half the body under the full Content-Length, then RSTs."""
        body = reply.body if self.method != "HEAD" else b""
        headers = self._headers(
            {"content-type": reply.content_type, "content-length": str(len(reply.body)), **reply.headers}
        )
        self.response_started = True
        await self.send({"type": "http.response.start", "status": reply.status, "headers": headers})
        if truncated:
            await self.send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            await abort_connection(self.receive)
            return
        await self.send({"type": "http.response.body", "body": body})

    async def body(self, limit: int = MAX_JSON_BODY) -> bytes:
        declared = self.headers.get("content-length", "")
        chunks: list[bytes] = []
        size, too_big = 0, declared.isdigit() and int(declared) > limit
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                break
            data = message.get("body", b"")
            size += len(data)
            if size > limit:
                too_big = True
                chunks = []
            elif not too_big:
                chunks.append(data)
            if not message.get("more_body", False) or size > MAX_DRAIN:
                break
        if too_big:
            raise invalid(
                "body",
                "invalid_type",
                f"Request body too large (limit {limit // 1024} KiB)",
                "Request body too large",
            )
        return b"".join(chunks)

    async def json_body(self, required: bool = True) -> Any:
        raw = await self.body()
        if not raw.strip():
            if required:
                raise invalid(
                    "body", "invalid_type", "Request body must be a JSON object", "Invalid request body"
                )
            return None
        try:
            value = json.loads(raw, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            raise invalid(
                "body", "invalid_type", "Request body is not valid JSON", "Invalid request body"
            ) from None
        if not isinstance(value, dict):
            raise invalid(
                "body", "invalid_type", "Request body must be a JSON object", "Invalid request body"
            )
        return value

    def int_query(
        self, name: str, default: int, low: int, high: int | None = None, clamp: bool = False
    ) -> int:
        raw = self.query.get(name)
        if raw is None or raw == "":
            return default
        if not re.fullmatch(r"[+-]?[0-9]{1,9}", raw.strip()):
            raise invalid(
                name,
                "invalid_type",
                f'"{name}" must be an integer, got "{raw[:50]}"',
                "Invalid query parameter",
            )
        value = int(raw)
        if value < low or (high is not None and value > high and not clamp):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            raise invalid(
                name, "invalid_type", f'"{name}" must be {bound}, got {value}', "Invalid query parameter"
            )
        return min(value, high) if high is not None else value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


Handler = Callable[..., Awaitable[Reply | None]]


@dataclass
class Route:
    method: str
    template: str  # e.g. "/v1/runs/{id}"
    handler: Handler
    family: str  # v1 | intermediate | legacy | media | admin | upload
    pattern: re.Pattern = field(init=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.template))
        regex = regex.replace("(?P<path>[^/]+)", "(?P<path>.+)")
        self.pattern = re.compile(f"^{regex}$")

    @property
    def name(self) -> str:
        return f"{self.method} " + re.sub(r"\{\w+_id\}", "{id}", self.template)

    @property
    def is_api(self) -> bool:
        return self.family in ("v1", "intermediate", "legacy")


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, family: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, template, handler, family))
            return handler

        return register

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """(route, path params, path_exists_for_other_method)."""
        other = False
        for route in self.routes:
            found = route.pattern.match(path)
            if found:
                if route.method == method or (method == "HEAD" and route.method == "GET"):
                    return route, found.groupdict(), True
                other = True
        return None, {}, other


def not_found(ctx: Ctx, other_method: bool) -> ApiError:
    if other_method:
        return ApiError("NOT_FOUND", f"Route not found: {ctx.method} is not supported on {ctx.path[:200]}")
    return ApiError("NOT_FOUND", f"Endpoint not found: {ctx.method} {ctx.path[:200]}")
