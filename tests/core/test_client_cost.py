"""The client's own cost: one SSL context per process, connections kept across event-stream waits,
in-flight requests capped at the pool, a bounded memory of run ids.

Requests and connections are counted, not timed (the machine is shared); bench/client.py prints
the CPU ratios against plain httpx.
"""

from __future__ import annotations

import asyncio

import anyio
import httpx
import pytest
from suite import TEXT_TO_IMAGE

from lamina_jupyter import AsyncClient, Client
from lamina_jupyter.core.claims import KNOWN_RUNS_LIMIT
from lamina_jupyter.core.drivers import POOL_SIZE
from lamina_jupyter.core.flows import parse_run
from lamina_jupyter.core.protocol import Context
from lamina_jupyter.core.watch import DRAIN_SECONDS


def _ssl_context(http_client):
    return http_client._transport._pool._ssl_context


@pytest.mark.anyio
async def test_every_client_shares_one_ssl_context(emulator):
    """httpx loads the certificate store per client (~53 ms); a fan-out makes a client per call."""
    with Client(api_key=emulator.api_key, base_url=emulator.base_url) as a, \
            Client(api_key=emulator.api_key, base_url=emulator.base_url) as b:
        async with AsyncClient(api_key=emulator.api_key, base_url=emulator.base_url) as c:
            assert _ssl_context(a._http) is _ssl_context(b._http) is _ssl_context(c._http)


def _connections_seen(pool, seen: list) -> None:
    assert len(pool.connections) == 1, "the pool should keep the run's connection"
    seen.extend(c for c in pool.connections if all(c is not s for s in seen))


def test_sequential_stream_waits_reuse_one_connection(emulator):
    """The stream is read to its end after the final event, so the pool keeps the connection."""
    transport = httpx.HTTPTransport()
    seen: list = []
    with Client(api_key=emulator.api_key, base_url=emulator.base_url, wait_strategy="stream",
                transport=transport) as client:
        for i in range(4):
            run = client.run(TEXT_TO_IMAGE, {"Prompt": f"reuse {i}"})
            assert run.status == "completed"
            _connections_seen(transport._pool, seen)
    assert len(seen) == 1


@pytest.mark.anyio
async def test_sequential_async_stream_waits_reuse_one_connection(emulator):
    transport = httpx.AsyncHTTPTransport()
    seen: list = []
    async with AsyncClient(api_key=emulator.api_key, base_url=emulator.base_url,
                           transport=transport) as client:
        for i in range(4):
            updates: list = []
            run = await client.run(TEXT_TO_IMAGE, {"Prompt": f"reuse async {i}"}, on_update=updates.append)
            assert run.status == "completed" and updates[-1].status == "completed"
            _connections_seen(transport._pool, seen)
    assert len(seen) == 1


def test_an_idle_connection_is_dropped_before_the_servers_5_s_keep_alive(emulator):
    """Node and uvicorn close idle connections at 5 s, httpx's own default: reused at that moment a
    start could be sent as the server closes it, a lost answer. Ours are dropped after 4 s instead."""
    import time

    with Client(api_key=emulator.api_key, base_url=emulator.base_url) as client:
        pool = client._http._transport._pool
        client.list_apps()
        first = list(pool.connections)
        time.sleep(1.0)
        client.list_apps()
        assert list(pool.connections) == first  # reused after a short pause
        time.sleep(4.3)
        client.list_apps()
        assert len(pool.connections) == 1 and pool.connections[0] is not first[0]


class _OpenAfterFinalEvent(httpx.AsyncByteStream):
    """A stream that sends the final event and then never ends the response."""

    async def __aiter__(self):
        yield b'event: complete\ndata: {"runId": "r1", "status": "completed", "outputs": []}\n\n'
        await anyio.sleep_forever()


@pytest.mark.anyio
async def test_reading_the_end_of_a_stream_is_bounded_when_the_server_keeps_it_open():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"},
                              stream=_OpenAfterFinalEvent())

    async with AsyncClient(api_key="lma_test_key", base_url="https://lamina.test", wait_strategy="stream",
                           transport=httpx.MockTransport(handler)) as client:
        with anyio.fail_after(DRAIN_SECONDS + 3):
            run = await client.wait("r1")
    assert run.status == "completed"


class _Counted(httpx.AsyncByteStream):
    def __init__(self, inner, on_close) -> None:
        self.inner, self.on_close = inner, on_close

    async def __aiter__(self):
        async for chunk in self.inner:
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()
        self.on_close()


class _InFlight(httpx.AsyncBaseTransport):
    """Counts requests from sending to the response's close (a stream is in flight while it is open)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.now = self.peak = 0

    def _done(self) -> None:
        self.now -= 1

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            response = await self.inner.handle_async_request(request)
        except BaseException:
            self._done()
            raise
        response.stream = _Counted(response.stream, self._done)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("strategy", ["wait", "stream"])
async def test_gathered_runs_keep_in_flight_requests_within_the_pool(emulator, strategy):
    """Past the pool size httpcore's bookkeeping was 78 % of the CPU (and 1,000 gathered runs ran
    into PoolTimeout): the driver queues requests itself instead."""
    transport = _InFlight()
    async with AsyncClient(api_key=emulator.api_key, base_url=emulator.base_url, wait_strategy=strategy,
                           transport=transport) as client:
        app = await client.get_app(TEXT_TO_IMAGE)
        runs = await asyncio.gather(*(client.run(app, {"Prompt": f"crowd {strategy} {i}"})
                                      for i in range(POOL_SIZE + 30)))
    assert all(r.status == "completed" for r in runs)
    assert transport.peak == POOL_SIZE and transport.now == 0


def test_a_long_lived_client_remembers_a_bounded_number_of_run_ids():
    """known_runs (what reconciliation excludes as "ours, seen already") grew with every run parsed
    for the client's lifetime; it keeps the most recent ids, far more than a reconcile window holds."""
    ctx = Context(base_url="http://lamina.test")
    for i in range(3 * KNOWN_RUNS_LIMIT):
        parse_run(ctx, {"runId": f"run-{i}", "status": "queued", "outputs": []})
    parse_run(ctx, {"runId": "run-0", "status": "completed", "outputs": []})  # seen again: kept as recent
    assert len(ctx.known_runs) == KNOWN_RUNS_LIMIT
    assert f"run-{3 * KNOWN_RUNS_LIMIT - 1}" in ctx.known_runs and "run-0" in ctx.known_runs
    assert "run-1" not in ctx.known_runs


def _handovers(transport: httpx.AsyncHTTPTransport) -> list[int]:
    """Counts how often httpcore hands a request to a connection (a busy one refuses it, and the
    request goes back to the pool for a rescan and another connection)."""
    pool, handed = transport._pool, [0]
    make = pool.create_connection

    def create_connection(origin):
        connection = make(origin)
        handle = connection.handle_async_request

        async def counted(request):
            handed[0] += 1
            return await handle(request)

        connection.handle_async_request = counted
        return connection

    pool.create_connection = create_connection
    return handed


@pytest.mark.anyio
@pytest.mark.parametrize("strategy", ["wait", "stream"])
async def test_gathered_requests_are_handed_to_a_connection_once(emulator, strategy):
    """httpcore gave one idle connection to every request arriving before the first started on it;
    the others were refused and rescanned the pool: 7 handovers per request with 300 gathered
    streams, most of their CPU. The driver lets requests into the pool one at a time."""
    transport = httpx.AsyncHTTPTransport()
    handed = _handovers(transport)
    emulator.reset_stats()
    async with AsyncClient(api_key=emulator.api_key, base_url=emulator.base_url, wait_strategy=strategy,
                           transport=transport) as client:
        app = await client.get_app(TEXT_TO_IMAGE)
        runs = await asyncio.gather(*(client.run(app, {"Prompt": f"handover {strategy} {i}"})
                                      for i in range(2 * POOL_SIZE)))
    assert all(r.status == "completed" for r in runs)
    requests = emulator.stats["requests"]
    assert requests >= 2 * len(runs) and handed[0] == requests


def test_the_pool_gate_belongs_to_the_running_loop(emulator):
    """asyncio primitives bind to the loop they first wait in: a client whose lock and slots were
    contended under one asyncio.run() would fail under the next one for good. (Its pooled connections
    still belong to the first loop; httpx does not support that, we only do not make it permanent.)"""
    client = AsyncClient(api_key=emulator.api_key, base_url=emulator.base_url)

    async def contend() -> object:
        gate = client._gate()
        assert gate is client._gate()  # one per loop, not per call

        async def hold() -> None:
            async with gate.entry, gate.slots:
                await asyncio.sleep(0.01)

        await asyncio.gather(*(hold() for _ in range(4)))
        return gate

    first, second = asyncio.run(contend()), asyncio.run(contend())
    assert first is not second
