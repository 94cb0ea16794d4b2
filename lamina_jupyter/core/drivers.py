"""The two drivers that perform the sans-IO flows' steps: the only duplicated code in the client.

Each sends or sleeps, feeds the result back into the flow, hands emitted run states to callbacks or
iterators, and holds every step to its bound (bounds.py). client.py puts the public methods on them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import sys
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import Any, Generic, TypeVar

import httpx

from .bounds import Body, Bound, Lines, clipped, sleep_within
from .connection import ClientBase
from .errors import ResponseError
from .models import Run
from .protocol import CloseStream, Deadline, DeadlineExceeded, Emit, Join, NextLine, OpenStream, Sleep
from .ratelimit import RateGovernor
from .redact import Secret
from .tls import shared_ssl_context

OnUpdate = Callable[[Run], Any]
POOL_SIZE = 100  # connections per client: httpx's default max_connections
# Idle connections are dropped after 4 s: Node's and uvicorn's servers close them after 5 s, the same
# as httpx's default, so a request reusing one at 5 s could be sent as the server closed it; for a
# start that is a lost answer (an uncertain run), not a harmless retry.
LIMITS = httpx.Limits(max_connections=POOL_SIZE, max_keepalive_connections=20, keepalive_expiry=4.0)
T = TypeVar("T")
H = TypeVar("H", httpx.Client, httpx.AsyncClient)
CLOSED = "Cannot send a request, as the client has been closed."  # httpx's own words

if sys.version_info >= (3, 11):
    async def _cut(work: Awaitable[T], seconds: float) -> T:
        """`work`, or TimeoutError after `seconds`. asyncio.timeout runs `work` in this task, so it
        needs no task of its own (wait_for made one per request and per stream line, most of the
        driver's own CPU) and a cancellation arriving as `work` finishes is never lost."""
        async with asyncio.timeout(seconds):
            return await work
else:
    async def _cut(work: Awaitable[T], seconds: float) -> T:
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


async def _joined(future: concurrent.futures.Future[Any], seconds: float) -> None:
    """Until another flow settles `future`, at most `seconds`. Shielded: a waiter that gives up must
    not cancel the future the others wait on."""
    if not future.done():
        with contextlib.suppress(asyncio.TimeoutError):
            await _cut(asyncio.shield(asyncio.wrap_future(future)), seconds)


class _Lazy(Generic[H]):
    """A driver's httpx client, built at its first request: httpx reads the environment's proxy
    variables and sets up a transport per client (0.06-0.4 ms), and a batch makes a client per call
    that sends nothing when the ledger holds every row. Built under a lock: a sync Client serves
    several threads, and two clients would mean two connection pools."""

    def __init__(self, kind: type[H], driver: ClientBase, transport: Any) -> None:
        self._kind: type[H] = kind
        # the driver's parts, not the driver: no reference cycle to keep a dropped client alive. The
        # process's SSL context is taken now, on the thread that makes the client: made on a batch's
        # worker thread, its certificate store sat in that thread's heap (+1 MiB peak, 10,000 rows)
        self._options: dict[str, Any] = {"auth": driver._auth, "timeout": driver.settings.timeout,
                                         "transport": transport, "verify": shared_ssl_context()}
        self._made: H | None = None
        self._closed = False
        self._lock = threading.Lock()

    def get(self) -> H:
        made = self._made
        if made is None:
            with self._lock:
                if self._made is None:
                    if self._closed:
                        raise RuntimeError(CLOSED)
                    self._made = self._kind(limits=LIMITS, **self._options)
                made = self._made
        return made

    def close(self) -> H | None:
        """Refuse requests from now on; the client to close, if one was built."""
        with self._lock:
            self._closed = True
            return self._made


class SyncDriver(ClientBase):
    """Owns an httpx.Client (built at its first request) and performs the flows' steps, blocking."""

    def __init__(self, api_key: str | Secret | None = None, base_url: str | None = None, api: str = "v1",
                 timeout: float | httpx.Timeout | None = None, max_retries: int = 2, *,
                 governor: RateGovernor | None = None, wait_strategy: str = "auto", interactive: bool = True,
                 transport: httpx.BaseTransport | None = None) -> None:
        api_key = Secret(api_key) if isinstance(api_key, str) else api_key  # a traceback's locals show it
        super().__init__(api_key, base_url, api, timeout, max_retries, governor=governor,
                         wait_strategy=wait_strategy, interactive=interactive)
        self._lazy = _Lazy(httpx.Client, self, transport)

    @property
    def _http(self) -> httpx.Client:
        return self._lazy.get()

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
                elif isinstance(step, Join):
                    concurrent.futures.wait((step.future,), sleep_within(step.within, watch_end)[0])
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


class _Gate:
    """One event loop's admission: requests past the pool size wait on `slots`, not in httpcore's
    pool, whose bookkeeping per queued request made it 78 % of the CPU of 200+ gathered runs (and ran
    into PoolTimeout at 1,000); `entry` lets them into the pool one at a time (AsyncDriver._send)."""

    def __init__(self, pooled: bool) -> None:
        self.loop = asyncio.get_running_loop()
        self.slots = asyncio.Semaphore(POOL_SIZE)
        self.entry = asyncio.Lock() if pooled else None


class AsyncDriver(ClientBase):
    """Owns an httpx.AsyncClient (built at its first request) and performs the flows' steps on the
    running event loop."""

    def __init__(self, api_key: str | Secret | None = None, base_url: str | None = None, api: str = "v1",
                 timeout: float | httpx.Timeout | None = None, max_retries: int = 2, *,
                 governor: RateGovernor | None = None, wait_strategy: str = "auto", interactive: bool = True,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        api_key = Secret(api_key) if isinstance(api_key, str) else api_key  # a traceback's locals show it
        super().__init__(api_key, base_url, api, timeout, max_retries, governor=governor,
                         wait_strategy=wait_strategy, interactive=interactive)
        self._lazy = _Lazy(httpx.AsyncClient, self, transport)
        # httpcore's pool reports when a request holds its connection (see _send); other transports may not.
        self._pooled = transport is None or isinstance(transport, httpx.AsyncHTTPTransport)
        self._gate_now: _Gate | None = None

    @property
    def _http(self) -> httpx.AsyncClient:
        return self._lazy.get()

    def _gate(self) -> _Gate:
        """The running loop's gate: asyncio primitives belong to the loop they first wait in, so a
        client used under a second asyncio.run() gets new ones instead of failing there for good."""
        gate = self._gate_now
        if gate is None or gate.loop is not asyncio.get_running_loop():
            gate = self._gate_now = _Gate(self._pooled)
        return gate

    async def _steps(self, flow: Generator[Any, Any, Any], box: list[Any]) -> AsyncIterator[Any]:
        """The async driver: the same loop as Client._steps with awaits, each step under a time limit."""
        value: Any = None
        error: Exception | None = None
        stream: httpx.Response | None = None
        lines: _StreamLines | None = None
        watch_end: float | None = None
        holding = False  # a pool slot, from OpenStream to CloseStream
        slots = self._gate().slots
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
                        async with slots:
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
                elif isinstance(step, Join):
                    await _joined(step.future, sleep_within(step.within, watch_end)[0])
                elif isinstance(step, Emit):
                    yield step.value
                elif isinstance(step, OpenStream):
                    request = step.request
                    await slots.acquire()
                    holding = True
                    try:
                        bound = Bound.of(request, watch_end)
                        stream = await self._within(self._open(request), request, bound)
                        lines, value = _StreamLines(stream), stream
                    except httpx.TransportError as exc:
                        value = exc
                    except (DeadlineExceeded, ResponseError) as exc:
                        error = exc
                elif isinstance(step, NextLine):
                    try:
                        if lines is not None and lines.waits():  # no line received is left
                            if step.within is not None:  # reading a stream's end: short, never a deadline
                                await _cut(lines.fill(), step.within)
                            else:
                                await self._within(lines.fill(), None, Bound.of(None, watch_end))
                        value = lines.take() if lines is not None else None
                    except (httpx.TransportError, asyncio.TimeoutError) as exc:
                        value = exc
                    except (DeadlineExceeded, ResponseError) as exc:
                        error = exc
                elif isinstance(step, CloseStream):
                    if stream is not None:
                        await stream.aclose()
                    stream = lines = None
                    if holding:
                        slots.release()
                        holding = False
        finally:
            if stream is not None:
                await stream.aclose()
            if holding:
                slots.release()
            flow.close()

    @staticmethod
    async def _within(work: Awaitable[Any], request: httpx.Request | None, bound: Bound) -> Any:
        """Await `work`, cut when the bound passes (the request's budget or the watch's deadline)."""
        left = bound.left()
        if left is None:
            return await work
        try:
            return await _cut(work, max(left, 0.0))
        except asyncio.TimeoutError:
            raise bound.expired(request) from None

    async def _send(self, request: httpx.Request) -> httpx.Response:
        """httpx's send, entering httpcore's pool one request at a time until it holds a connection.

        httpcore gives an idle connection to every request that arrives before the first of them
        starts on it; all but one then fail over (ConnectionNotAvailable) and rescan the whole pool,
        again and again: 7 rescans per request, most of the CPU of 300 gathered event streams. The
        entry is free again at the request's first trace event (connecting, or sending on a reused
        connection, which is no longer idle by then), or when send returns or fails."""
        entry = self._gate().entry
        if entry is None:
            return await self._http.send(request, stream=True)
        await entry.acquire()
        inside = True

        async def leave(event: str, info: Any) -> None:
            nonlocal inside
            if inside:
                inside = False
                entry.release()
                request.extensions.pop("trace", None)  # the rest of the request's events cost nothing

        request.extensions["trace"] = leave
        try:
            return await self._http.send(request, stream=True)
        finally:
            await leave("", None)

    async def _fetch(self, request: httpx.Request) -> httpx.Response:
        """One attempt, headers and body."""
        return await self._read(await self._send(request))

    async def _open(self, request: httpx.Request) -> httpx.Response:
        """An event stream's headers (an error status's body too)."""
        response = await self._send(request)
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

    async def _call(self, flow: Generator[Any, Any, Any], on_update: OnUpdate | None = None) -> Any:
        box: list[Any] = []
        async for item in self._steps(flow, box):
            if on_update is not None:
                result = on_update(item)
                if inspect.isawaitable(result):
                    await result
        return box[0]


class _StreamLines:
    """An event stream's lines for the async driver: the lines of a chunk already received are taken
    at once, and only an empty buffer waits (under a time limit) for the next chunk."""

    def __init__(self, response: httpx.Response) -> None:
        self.chunks = response.aiter_bytes()
        self.splitter = Lines(response)
        self.ready: deque[str] = deque()
        self.ended = False

    def waits(self) -> bool:
        return not self.ready and not self.ended

    def take(self) -> str | None:
        """The next received line, None at the end."""
        return self.ready.popleft() if self.ready else None

    async def fill(self) -> None:
        """Receive chunks until a line is complete or the stream ends."""
        while self.waits():
            try:
                self.ready.extend(self.splitter.feed(await anext(self.chunks)))
            except StopAsyncIteration:
                self.ready.extend(self.splitter.close())
                self.ended = True
