"""The two drivers that perform the sans-IO flows' steps: the only duplicated code in the client.

Each sends or sleeps, feeds the result back into the flow, hands emitted run states to callbacks or
iterators, and holds every step to its bound (bounds.py). client.py puts the public methods on them.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import Any

import httpx

from .bounds import Body, Bound, Lines, clipped, sleep_within
from .connection import ClientBase
from .errors import ResponseError
from .models import Run
from .protocol import CloseStream, Deadline, DeadlineExceeded, Emit, NextLine, OpenStream, Sleep
from .ratelimit import RateGovernor
from .redact import Secret
from .tls import shared_ssl_context

OnUpdate = Callable[[Run], Any]
POOL_SIZE = 100  # connections per client: httpx's default max_connections


async def wait_for(work: Awaitable[Any], seconds: float) -> Any:
    """asyncio.wait_for that never loses a cancellation. Before Python 3.12, wait_for returns the
    result when the cancel arrives just as `work` finishes (CPython gh-86296): a batch told to stop
    (Ctrl-C, task.cancel()) as an event-stream line came in went on following that run."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.wait((task,), timeout=seconds)
    except asyncio.CancelledError:
        await _stop(task)
        raise
    if not task.done():
        await _stop(task)
        if task.cancelled():
            raise asyncio.TimeoutError
    return task.result()


async def _stop(task: asyncio.Future[Any]) -> None:
    """Cancel `task` and let it end (a line being read must end before its stream is closed)."""
    task.cancel()
    await asyncio.wait((task,))
    if not task.cancelled():
        task.exception()  # read, so asyncio does not log it as never retrieved


class SyncDriver(ClientBase):
    """Owns an httpx.Client and performs the flows' steps, blocking."""

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
        """The sync driver: performs each step within its bound (bounds.py), yields emitted values,
        puts the result in box."""
        value: Any = None
        error: Exception | None = None
        stream: httpx.Response | None = None
        lines: Iterator[str] | None = None
        watch_end: float | None = None
        try:
            while True:
                try:
                    step = flow.throw(error) if error is not None else flow.send(value)
                except StopIteration as stop:
                    box.append(stop.value)
                    return
                value, error = None, None
                if isinstance(step, httpx.Request):
                    try:
                        value = self._fetch(step, Bound.of(step, watch_end))
                    except httpx.TransportError as exc:
                        value = exc
                    except (DeadlineExceeded, ResponseError) as exc:
                        error = exc
                elif isinstance(step, Sleep):
                    pause, ends = sleep_within(step.seconds, watch_end)
                    time.sleep(pause)
                    error = DeadlineExceeded() if ends else None
                elif isinstance(step, Deadline):
                    watch_end = time.monotonic() + step.seconds
                elif isinstance(step, Emit):
                    yield step.value
                elif isinstance(step, OpenStream):
                    try:
                        stream = self._open(step.request, Bound.of(step.request, watch_end))
                        lines, value = self._lines(stream, Bound.of(None, watch_end)), stream
                    except httpx.TransportError as exc:
                        value = exc
                    except (DeadlineExceeded, ResponseError) as exc:
                        error = exc
                elif isinstance(step, NextLine):
                    try:
                        value = next(lines, None) if lines is not None else None
                    except httpx.TransportError as exc:
                        value = exc
                    except (DeadlineExceeded, ResponseError) as exc:
                        error = exc
                elif isinstance(step, CloseStream) and stream is not None:
                    stream.close()
                    stream = lines = None
        finally:
            if stream is not None:
                stream.close()
            flow.close()

    def _fetch(self, request: httpx.Request, bound: Bound) -> httpx.Response:
        """One attempt, headers and body, within the bound."""
        bound.check(request)
        with clipped(request, bound):
            return self._read(self._send(request, bound), bound)

    def _open(self, request: httpx.Request, bound: Bound) -> httpx.Response:
        """An event stream's headers (an error status's body too) within the bound."""
        bound.check(request)
        with clipped(request, bound, restore=False):  # reads of the stream's lines stay clipped
            response = self._send(request, bound)
            return response if response.status_code == 200 else self._read(response, bound)

    def _read(self, response: httpx.Response, bound: Bound) -> httpx.Response:
        """The whole body, capped at MAX_BODY, within the bound."""
        try:
            body = Body(response, bound)
            for chunk in self._chunks(response, bound):
                body.add(chunk)
            return body.done()
        finally:
            response.close()

    def _send(self, request: httpx.Request, bound: Bound) -> httpx.Response:
        try:
            return self._http.send(request, stream=True)
        except httpx.TimeoutException:
            bound.check(request)  # a read cut by the clipped timeout is the bound passing
            raise

    @staticmethod
    def _chunks(response: httpx.Response, bound: Bound) -> Iterator[bytes]:
        try:
            yield from response.iter_bytes()
        except httpx.TimeoutException:
            bound.check(response.request)
            raise

    def _lines(self, response: httpx.Response, bound: Bound) -> Iterator[str]:
        splitter = Lines(response)
        for chunk in self._chunks(response, bound):
            bound.check(response.request)
            yield from splitter.feed(chunk)
        yield from splitter.close()

    def _call(self, flow: Generator[Any, Any, Any], on_update: OnUpdate | None = None) -> Any:
        box: list[Any] = []
        for item in self._steps(flow, box):
            if on_update is not None:
                on_update(item)
        return box[0]


class AsyncDriver(ClientBase):
    """Owns an httpx.AsyncClient and performs the flows' steps on the running event loop."""

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
        """The async driver: the same loop as Client._steps with awaits, each step under wait_for."""
        value: Any = None
        error: Exception | None = None
        stream: httpx.Response | None = None
        lines: AsyncIterator[str] | None = None
        watch_end: float | None = None
        holding = False  # a pool slot, from OpenStream to CloseStream
        try:
            while True:
                try:
                    step = flow.throw(error) if error is not None else flow.send(value)
                except StopIteration as stop:
                    box.append(stop.value)
                    return
                value, error = None, None
                if isinstance(step, httpx.Request):
                    try:
                        async with self._slots:
                            value = await self._within(self._fetch(step), step, Bound.of(step, watch_end))
                    except httpx.TransportError as exc:
                        value = exc
                    except (DeadlineExceeded, ResponseError) as exc:
                        error = exc
                elif isinstance(step, Sleep):
                    pause, ends = sleep_within(step.seconds, watch_end)
                    await asyncio.sleep(pause)
                    error = DeadlineExceeded() if ends else None
                elif isinstance(step, Deadline):
                    watch_end = time.monotonic() + step.seconds
                elif isinstance(step, Emit):
                    yield step.value
                elif isinstance(step, OpenStream):
                    request = step.request
                    await self._slots.acquire()
                    holding = True
                    try:
                        bound = Bound.of(request, watch_end)
                        stream = await self._within(self._open(request), request, bound)
                        lines, value = self._lines(stream), stream
                    except httpx.TransportError as exc:
                        value = exc
                    except (DeadlineExceeded, ResponseError) as exc:
                        error = exc
                elif isinstance(step, NextLine):
                    try:
                        if lines is None:
                            value = None
                        elif step.within is not None:  # reading a stream's end: short, never a deadline
                            value = await wait_for(anext(lines, None), step.within)
                        else:
                            value = await self._within(anext(lines, None), None, Bound.of(None, watch_end))
                    except (httpx.TransportError, asyncio.TimeoutError) as exc:
                        value = exc
                    except (DeadlineExceeded, ResponseError) as exc:
                        error = exc
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

    @staticmethod
    async def _within(work: Awaitable[Any], request: httpx.Request | None, bound: Bound) -> Any:
        """Await `work`, cut when the bound passes (the request's budget or the watch's deadline)."""
        left = bound.left()
        if left is None:
            return await work
        try:
            return await wait_for(work, max(left, 0.0))
        except asyncio.TimeoutError:
            raise bound.expired(request) from None

    async def _fetch(self, request: httpx.Request) -> httpx.Response:
        """One attempt, headers and body."""
        return await self._read(await self._http.send(request, stream=True))

    async def _open(self, request: httpx.Request) -> httpx.Response:
        """An event stream's headers (an error status's body too)."""
        response = await self._http.send(request, stream=True)
        return response if response.status_code == 200 else await self._read(response)

    @staticmethod
    async def _read(response: httpx.Response) -> httpx.Response:
        """The whole body, capped at MAX_BODY (the time bound is _within's)."""
        try:
            body = Body(response, Bound(None))
            async for chunk in response.aiter_bytes():
                body.add(chunk)
            return body.done()
        finally:
            await response.aclose()

    @staticmethod
    async def _lines(response: httpx.Response) -> AsyncIterator[str]:
        splitter = Lines(response)
        async for chunk in response.aiter_bytes():
            for line in splitter.feed(chunk):
                yield line
        for line in splitter.close():
            yield line

    async def _call(self, flow: Generator[Any, Any, Any], on_update: OnUpdate | None = None) -> Any:
        box: list[Any] = []
        async for item in self._steps(flow, box):
            if on_update is not None:
                result = on_update(item)
                if inspect.isawaitable(result):
                    await result
        return box[0]
