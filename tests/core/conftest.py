"""Run the same client test against Client and AsyncClient, for both API families.

`lamina` builds a facade whose methods are called synchronously: for AsyncClient every coroutine
runs on one private event loop in a background thread (one loop per client, as httpx requires),
and `stream()` is collected into a list on that loop.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from lamina_jupyter import AsyncClient, Client


class SyncFacade:
    kind = "sync"

    def __init__(self, **kw: Any) -> None:
        self.client = Client(**kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def stream(self, run: Any, **kw: Any) -> list[Any]:
        return list(self.client.stream(run, **kw))

    def close(self) -> None:
        self.client.close()


class AsyncFacade:
    kind = "async"

    def __init__(self, **kw: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def make() -> AsyncClient:
            return AsyncClient(**kw)

        self.client = self._run(make())

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)
        if not callable(method):
            return method
        return lambda *a, **kw: self._run(method(*a, **kw))

    def stream(self, run: Any, **kw: Any) -> list[Any]:
        async def collect() -> list[Any]:
            return [r async for r in self.client.stream(run, **kw)]

        return self._run(collect())

    def close(self) -> None:
        self._run(self.client.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture(params=["sync", "async"])
def make_lamina(request, emulator):
    """factory(**client kwargs) → facade bound to the emulator; closed after the test."""
    made: list[Any] = []
    facade_type = SyncFacade if request.param == "sync" else AsyncFacade

    def factory(**kw: Any) -> Any:
        kw.setdefault("api_key", emulator.api_key)
        kw.setdefault("base_url", emulator.base_url)
        made.append(facade_type(**kw))
        return made[-1]

    yield factory
    for facade in made:
        facade.close()


@pytest.fixture(params=["v1", "legacy"])
def lamina(request, make_lamina):
    """A sync or async client facade, for each API family."""
    return make_lamina(api=request.param)
