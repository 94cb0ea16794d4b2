"""Client and AsyncClient: own an httpx client and drive the sans-IO flows.

The two drivers (`_steps` / `_asteps`) are the only duplicated code: send or sleep, feed the result
back, hand emitted run states to callbacks or iterators. Public methods are one-liners over the
flows in flows / watch, with identical names and signatures on both clients.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from . import flows, watch
from .connection import ClientBase
from .models import App, Estimate, Run
from .protocol import CloseStream, Emit, NextLine, OpenStream, Sleep
from .ratelimit import RateGovernor
from .redact import Secret
from .tls import shared_ssl_context

OnUpdate = Callable[[Run], Any]
POOL_SIZE = 100  # connections per client: httpx's default max_connections


class Client(ClientBase):
    """Blocking client. Use as a context manager, or call close().

    wait_strategy: how wait() follows a v1 run: "auto" (SSE when on_update is given, else /wait),
    "wait", "stream" or "poll" (legacy always polls). interactive=False (batches): a retry hint over
    120 s pauses the shared rate governor and waits instead of raising RateLimitError."""

    def __init__(self, api_key: str | Secret | None = None, base_url: str | None = None, api: str = "v1",
                 timeout: float | httpx.Timeout | None = None, max_retries: int = 2, *,
                 governor: RateGovernor | None = None, wait_strategy: str = "auto", interactive: bool = True,
                 transport: httpx.BaseTransport | None = None) -> None:
        api_key = Secret(api_key) if isinstance(api_key, str) else api_key
        super().__init__(api_key, base_url, api, timeout, max_retries, governor=governor,
                         wait_strategy=wait_strategy, interactive=interactive)
        self._http = httpx.Client(auth=self._auth, timeout=self.settings.timeout, transport=transport,
                                  verify=shared_ssl_context())

    def _steps(self, flow: Generator[Any, Any, Any], box: list[Any]) -> Iterator[Any]:
        """The sync driver: performs each step, yields emitted values, puts the result in box."""
        value: Any = None
        stream: httpx.Response | None = None
        lines: Iterator[str] | None = None
        try:
            while True:
                try:
                    step = flow.send(value)
                except StopIteration as stop:
                    box.append(stop.value)
                    return
                value = None
                if isinstance(step, httpx.Request):
                    try:
                        value = self._http.send(step)
                    except httpx.TransportError as exc:
                        value = exc
                elif isinstance(step, Sleep):
                    time.sleep(step.seconds)
                elif isinstance(step, Emit):
                    yield step.value
                elif isinstance(step, OpenStream):
                    try:
                        stream = self._http.send(step.request, stream=True)
                        if stream.status_code != 200:
                            stream.read()
                        lines, value = stream.iter_lines(), stream
                    except httpx.TransportError as exc:
                        value = exc
                elif isinstance(step, NextLine):
                    try:
                        value = next(lines, None) if lines is not None else None
                    except httpx.TransportError as exc:
                        value = exc
                elif isinstance(step, CloseStream) and stream is not None:
                    stream.close()
                    stream = lines = None
        finally:
            if stream is not None:
                stream.close()
            flow.close()

    def _call(self, flow: Generator[Any, Any, Any], on_update: OnUpdate | None = None) -> Any:
        box: list[Any] = []
        for item in self._steps(flow, box):
            if on_update is not None:
                on_update(item)
        return box[0]

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
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(ClientBase):
    """asyncio client with the same methods as Client; `stream()` is an async iterator."""

    def __init__(self, api_key: str | Secret | None = None, base_url: str | None = None, api: str = "v1",
                 timeout: float | httpx.Timeout | None = None, max_retries: int = 2, *,
                 governor: RateGovernor | None = None, wait_strategy: str = "auto", interactive: bool = True,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        api_key = Secret(api_key) if isinstance(api_key, str) else api_key
        super().__init__(api_key, base_url, api, timeout, max_retries, governor=governor,
                         wait_strategy=wait_strategy, interactive=interactive)
        self._http = httpx.AsyncClient(auth=self._auth, timeout=self.settings.timeout, transport=transport,
                                       verify=shared_ssl_context())
        # Requests past the pool size wait here, not in httpcore's pool, whose bookkeeping per queued
        # request made it 78 % of the CPU of 200+ gathered runs (and ran into PoolTimeout at 1,000).
        self._slots = asyncio.Semaphore(POOL_SIZE)

    async def _steps(self, flow: Generator[Any, Any, Any], box: list[Any]) -> AsyncIterator[Any]:
        """The async driver: the same loop as Client._steps with awaits."""
        value: Any = None
        stream: httpx.Response | None = None
        lines: AsyncIterator[str] | None = None
        holding = False  # a pool slot, from OpenStream to CloseStream
        try:
            while True:
                try:
                    step = flow.send(value)
                except StopIteration as stop:
                    box.append(stop.value)
                    return
                value = None
                if isinstance(step, httpx.Request):
                    try:
                        async with self._slots:
                            value = await self._http.send(step)
                    except httpx.TransportError as exc:
                        value = exc
                elif isinstance(step, Sleep):
                    await asyncio.sleep(step.seconds)
                elif isinstance(step, Emit):
                    yield step.value
                elif isinstance(step, OpenStream):
                    await self._slots.acquire()
                    holding = True
                    try:
                        stream = await self._http.send(step.request, stream=True)
                        if stream.status_code != 200:
                            await stream.aread()
                        lines, value = stream.aiter_lines(), stream
                    except httpx.TransportError as exc:
                        value = exc
                elif isinstance(step, NextLine):
                    try:
                        value = await asyncio.wait_for(anext(lines, None), step.within) if lines else None
                    except (httpx.TransportError, asyncio.TimeoutError) as exc:
                        value = exc
                elif isinstance(step, CloseStream):
                    if stream is not None:
                        await stream.aclose()
                    stream = lines = None
                    if holding:
                        self._slots.release()
                        holding = False
        finally:
            if stream is not None:
                await stream.aclose()
            if holding:
                self._slots.release()
            flow.close()

    async def _call(self, flow: Generator[Any, Any, Any], on_update: OnUpdate | None = None) -> Any:
        box: list[Any] = []
        async for item in self._steps(flow, box):
            if on_update is not None:
                result = on_update(item)
                if inspect.isawaitable(result):
                    await result
        return box[0]

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
        await self._http.aclose()

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
