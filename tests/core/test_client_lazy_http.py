"""The httpx client behind Client and AsyncClient is built at the first request (drivers.py `_Lazy`).

httpx reads the environment's proxy variables when a client is built, and refuses a proxy URL of an
unknown scheme there: with ALL_PROXY=bogus://... set, building one raises, so a client that sends
nothing shows that it built nothing simply by not raising.
"""

from __future__ import annotations

import asyncio
import sys
import threading

import pytest

from lamina_jupyter import AsyncClient, Client

BOGUS_PROXY = "bogus://nowhere:1"


@pytest.fixture
def bogus_proxy(monkeypatch):
    monkeypatch.setenv("ALL_PROXY", BOGUS_PROXY)


def test_a_sync_client_that_sends_nothing_builds_no_httpx_client(emulator, bogus_proxy):
    with Client(api_key=emulator.api_key, base_url=emulator.base_url):
        pass  # built and closed: httpx never read the environment
    client = Client(api_key=emulator.api_key, base_url=emulator.base_url)
    with pytest.raises(ValueError, match="Unknown scheme for proxy URL"):
        client.list_apps()  # the first request is where httpx reads it


@pytest.mark.anyio
async def test_an_async_client_that_sends_nothing_builds_no_httpx_client(emulator, bogus_proxy):
    async with AsyncClient(api_key=emulator.api_key, base_url=emulator.base_url):
        pass
    client = AsyncClient(api_key=emulator.api_key, base_url=emulator.base_url)
    with pytest.raises(ValueError, match="Unknown scheme for proxy URL"):
        await client.list_apps()


def test_a_closed_sync_client_refuses_requests_whether_or_not_it_sent_one(emulator, monkeypatch):
    used = Client(api_key=emulator.api_key, base_url=emulator.base_url)
    assert used.list_apps()
    used.close()
    unused = Client(api_key=emulator.api_key, base_url=emulator.base_url)
    unused.close()
    unused.close()  # twice is harmless, as with httpx
    monkeypatch.setenv("ALL_PROXY", BOGUS_PROXY)  # a refusal, not a client built after all
    emulator.reset_stats()
    for client in (used, unused):
        with pytest.raises(RuntimeError, match="Cannot send a request, as the client has been closed"):
            client.get_app("3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a01")
    assert emulator.stats["requests"] == 0


@pytest.mark.anyio
async def test_a_closed_async_client_refuses_requests_whether_or_not_it_sent_one(emulator, monkeypatch):
    used = AsyncClient(api_key=emulator.api_key, base_url=emulator.base_url)
    assert await used.list_apps()
    await used.aclose()
    unused = AsyncClient(api_key=emulator.api_key, base_url=emulator.base_url)
    await unused.close()  # the other spelling
    monkeypatch.setenv("ALL_PROXY", BOGUS_PROXY)
    emulator.reset_stats()
    for client in (used, unused):
        with pytest.raises(RuntimeError, match="Cannot send a request, as the client has been closed"):
            await client.list_apps()
    assert emulator.stats["requests"] == 0


def test_threads_making_first_requests_at_once_share_one_httpx_client(emulator):
    """A sync Client serves several threads: two clients built at once would split its connection
    pool (and leak one). The threads switch every microsecond here, so a race would show."""
    client = Client(api_key=emulator.api_key, base_url=emulator.base_url)
    start = threading.Barrier(8)
    seen: list[object] = []
    errors: list[BaseException] = []

    def first_request() -> None:
        try:
            start.wait()
            seen.append(client._http)  # what the request below uses (the first use builds it)
            assert client.list_apps()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=first_request) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        sys.setswitchinterval(interval)
    try:
        assert not errors and len(seen) == 8
        assert all(http is client._http for http in seen)
        assert client._http._transport._pool.connections  # the requests' connections are in that pool
    finally:
        client.close()


@pytest.mark.anyio
async def test_gathered_first_requests_share_one_httpx_client(emulator):
    async with AsyncClient(api_key=emulator.api_key, base_url=emulator.base_url) as client:
        async def first_request() -> object:
            assert await client.list_apps()
            return client._http

        seen = await asyncio.gather(*(first_request() for _ in range(8)))
        assert all(http is client._http for http in seen)
        assert client._http._transport._pool.connections
