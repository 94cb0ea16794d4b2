"""Client and AsyncClient: the public methods, one-liners over the flows in flows / watch / refine /
discover, with identical names and signatures on both clients. The drivers that perform the flows'
steps are in drivers.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from . import discover as discover_flows
from . import flows, refine, watch
from .discover import Discovery, Usage
from .drivers import AsyncDriver, OnUpdate, SyncDriver
from .models import App, Estimate, Run

__all__ = ["AsyncClient", "Client"]


class Client(SyncDriver):
    """Blocking client. Use as a context manager, or call close().

    wait_strategy: how wait() follows a v1 run: "auto" (SSE when on_update is given, else /wait),
    "wait", "stream" or "poll" (legacy always polls). interactive=False (batches): a retry hint over
    120 s pauses the shared rate governor and waits instead of raising RateLimitError.

    Bounds (core/bounds.py): one request attempt ends within its connect + read timeouts in total
    (default 5 + 30 s) however slowly the server sends, and is retried up to max_retries times;
    wait/run/stream(timeout=T) return or raise WaitTimeout within T + 1 s; JSON bodies over 16 MiB
    are refused with ResponseError."""

    def list_apps(self, search: str | None = None, limit: int | None = None) -> list[App]:
        return self._call(flows.list_apps(self._ctx, search, limit))

    def get_app(self, app: App | str) -> App:
        return self._call(flows.get_app(self._ctx, app))

    def start(self, app: App | str, inputs: Mapping[str, Any] | None = None, *, webhook: str | None = None,
              outputs: Sequence[str] | None = None) -> Run:
        return self._call(flows.start(self._ctx, app, inputs, webhook, outputs))

    def get_run(self, run: Run | str) -> Run:
        return self._call(flows.get_run(self._ctx, run))

    def wait(self, run: Run | str, *, timeout: float | None = None, on_update: OnUpdate | None = None) -> Run:
        flow = watch.watch(self._ctx, run, timeout=timeout, live=on_update is not None)
        return self._call(flow, on_update)

    def stream(self, run: Run | str, *, timeout: float | None = None) -> Iterator[Run]:
        return self._steps(watch.watch(self._ctx, run, timeout=timeout, live=True), [])

    def run(self, app: App | str, inputs: Mapping[str, Any] | None = None, *, webhook: str | None = None,
            outputs: Sequence[str] | None = None, timeout: float | None = None,
            on_update: OnUpdate | None = None, raise_on_failure: bool = True) -> Run:
        flow = watch.run_to_end(self._ctx, app, inputs, webhook=webhook, outputs=outputs, timeout=timeout,
                                 live=on_update is not None, raise_on_failure=raise_on_failure)
        return self._call(flow, on_update)

    def cancel(self, run: Run | str) -> Run:
        return self._call(flows.cancel(self._ctx, run))

    def list_runs(self, status: str | None = None, app: App | str | None = None,
                  since: datetime | str | None = None, limit: int | None = None,
                  offset: int | None = None) -> list[Run]:
        return self._call(flows.list_runs(self._ctx, status, app, since, limit, offset))

    def upload(self, data: Any, *, filename: str | None = None, media_type: str | None = None) -> str:
        return self._call(flows.upload(self._ctx, data, filename, media_type))

    def estimate(self, app: App | str, inputs: Mapping[str, Any] | None = None) -> Estimate:
        return self._call(flows.estimate(self._ctx, app, inputs))

    def signing_key(self) -> dict[str, Any]:
        return self._call(flows.signing_key(self._ctx))

    def close(self) -> None:
        if (http := self._lazy.close()) is not None:
            http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def refine(self, run: Run | str, feedback: str) -> Run:
        """Refine a completed run in place from feedback; the result keeps every version in .versions."""
        return self._call(refine.refine(self._ctx, run, feedback))

    def discover(self, intent: str, *, max_credits: float | None = None, output_format: str | None = None,
                 limit: int | None = None) -> Discovery:
        return self._call(discover_flows.discover(self._ctx, intent, max_credits, output_format, limit))

    def usage(self) -> Usage:
        return self._call(discover_flows.usage(self._ctx))


class AsyncClient(AsyncDriver):
    """asyncio client with the same methods as Client; `stream()` is an async iterator."""

    async def list_apps(self, search: str | None = None, limit: int | None = None) -> list[App]:
        return await self._call(flows.list_apps(self._ctx, search, limit))

    async def get_app(self, app: App | str) -> App:
        return await self._call(flows.get_app(self._ctx, app))

    async def start(self, app: App | str, inputs: Mapping[str, Any] | None = None, *,
                    webhook: str | None = None, outputs: Sequence[str] | None = None) -> Run:
        return await self._call(flows.start(self._ctx, app, inputs, webhook, outputs))

    async def get_run(self, run: Run | str) -> Run:
        return await self._call(flows.get_run(self._ctx, run))

    async def wait(self, run: Run | str, *, timeout: float | None = None,
                   on_update: OnUpdate | None = None) -> Run:
        flow = watch.watch(self._ctx, run, timeout=timeout, live=on_update is not None)
        return await self._call(flow, on_update)

    def stream(self, run: Run | str, *, timeout: float | None = None) -> AsyncIterator[Run]:
        return self._steps(watch.watch(self._ctx, run, timeout=timeout, live=True), [])

    async def run(self, app: App | str, inputs: Mapping[str, Any] | None = None, *,
                  webhook: str | None = None, outputs: Sequence[str] | None = None,
                  timeout: float | None = None, on_update: OnUpdate | None = None,
                  raise_on_failure: bool = True) -> Run:
        flow = watch.run_to_end(self._ctx, app, inputs, webhook=webhook, outputs=outputs, timeout=timeout,
                                 live=on_update is not None, raise_on_failure=raise_on_failure)
        return await self._call(flow, on_update)

    async def cancel(self, run: Run | str) -> Run:
        return await self._call(flows.cancel(self._ctx, run))

    async def list_runs(self, status: str | None = None, app: App | str | None = None,
                        since: datetime | str | None = None, limit: int | None = None,
                        offset: int | None = None) -> list[Run]:
        return await self._call(flows.list_runs(self._ctx, status, app, since, limit, offset))

    async def upload(self, data: Any, *, filename: str | None = None, media_type: str | None = None) -> str:
        return await self._call(flows.upload(self._ctx, data, filename, media_type))

    async def estimate(self, app: App | str, inputs: Mapping[str, Any] | None = None) -> Estimate:
        return await self._call(flows.estimate(self._ctx, app, inputs))

    async def signing_key(self) -> dict[str, Any]:
        return await self._call(flows.signing_key(self._ctx))

    async def aclose(self) -> None:
        if (http := self._lazy.close()) is not None:
            await http.aclose()

    async def close(self) -> None:
        await self.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def refine(self, run: Run | str, feedback: str) -> Run:
        """Refine a completed run in place from feedback; the result keeps every version in .versions."""
        return await self._call(refine.refine(self._ctx, run, feedback))

    async def discover(self, intent: str, *, max_credits: float | None = None,
                       output_format: str | None = None, limit: int | None = None) -> Discovery:
        return await self._call(discover_flows.discover(self._ctx, intent, max_credits, output_format, limit))

    async def usage(self) -> Usage:
        return await self._call(discover_flows.usage(self._ctx))
