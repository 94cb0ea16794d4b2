"""The client's own cost per run (issue 17): starts that find the app cache empty or expired at once
share one fetch of the app (a real emulator counts the requests), a run's state is parsed once
however often the server repeats it, and a body is decoded as httpx would without its slow path."""

from __future__ import annotations

import asyncio
import json
import threading

import httpx
import pytest
from client_flowkit import drive, make_ctx, run_json, script

from lamina_jupyter import AsyncClient, Client
from lamina_jupyter.core import watch
from lamina_jupyter.core.errors import ServerError
from lamina_jupyter.core.flows import APP_CACHE_SECONDS
from lamina_jupyter.core.models import Run
from lamina_jupyter.core.protocol import parse_body

T2I = "3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a01"


def app_fetches(emulator) -> int:
    return emulator.stats["requests_by_route"].get("GET /v1/apps/{id}", 0)


def gathered_starts(emulator, n: int, *, expire_first: bool = False, max_retries: int = 2) -> list:
    """Start `n` runs gathered on one AsyncClient (after a first start that fills the app cache, aged
    past its expiry when `expire_first`); the n results or exceptions."""

    async def go() -> list:
        async with AsyncClient(api_key=emulator.api_key, base_url=emulator.base_url,
                               max_retries=max_retries) as client:
            if expire_first:
                await client.start(T2I, {"Prompt": "fills the cache"})
                cache = client._ctx.app_cache
                for key, (fetched, app) in list(cache.items()):
                    cache[key] = (fetched - APP_CACHE_SECONDS - 1, app)
            emulator.reset_stats()
            starts = (client.start(T2I, {"Prompt": f"gathered {i}"}) for i in range(n))
            return await asyncio.gather(*starts, return_exceptions=True)

    return asyncio.run(go())


def test_gathered_starts_on_a_new_client_fetch_the_app_once(emulator):
    runs = gathered_starts(emulator, 40)
    assert all(isinstance(r, Run) for r in runs), runs
    assert app_fetches(emulator) == 1, emulator.stats["requests_by_route"]
    assert emulator.stats["runs_created"] == 40


def test_gathered_starts_share_one_refetch_when_the_cache_expires(emulator):
    runs = gathered_starts(emulator, 40, expire_first=True)
    assert all(isinstance(r, Run) for r in runs), runs
    assert app_fetches(emulator) == 1, emulator.stats["requests_by_route"]


def test_when_the_shared_fetch_fails_the_others_fetch_for_themselves(emulator):
    """The one that fetched gets its error; the ones that waited for it do not inherit a failure
    that may have been passing, and each fetches the app as it would have alone."""
    emulator.inject("status", route=f"GET /v1/apps/{T2I}", status=503)
    results = gathered_starts(emulator, 10, max_retries=0)
    failed = [r for r in results if isinstance(r, Exception)]
    assert len(failed) == 1 and isinstance(failed[0], ServerError), results
    assert sum(isinstance(r, Run) for r in results) == 9
    assert app_fetches(emulator) == 10


def test_threads_sharing_a_sync_client_fetch_the_app_once(emulator):
    with Client(api_key=emulator.api_key, base_url=emulator.base_url) as client:
        emulator.reset_stats()
        ready = threading.Barrier(8)
        apps: list = []

        def fetch() -> None:
            ready.wait()
            apps.append(client.get_app(T2I))

        threads = [threading.Thread(target=fetch) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert len(apps) == 8 and all(a is apps[0] for a in apps)
    assert app_fetches(emulator) == 1, emulator.stats["requests_by_route"]


@pytest.mark.parametrize("strategy", ["stream", "wait"])
def test_a_repeated_state_is_not_parsed_again(monkeypatch, strategy):
    """A stream's first event repeats the start's answer, and a /wait that ends before the run does
    repeats the state it had: Run.from_json runs once per distinct state."""
    parsed: list[str] = []
    original = Run.from_json.__func__  # type: ignore[attr-defined]

    def counting(cls, data, fetcher=None):
        parsed.append(data.get("status"))
        return original(cls, data, fetcher)

    monkeypatch.setattr(Run, "from_json", classmethod(counting))
    ctx = make_ctx(strategy=strategy)
    queued = Run.from_json(run_json("r1", "queued"))
    parsed.clear()
    if strategy == "stream":
        events = (("progress", "queued"), ("progress", "queued"), ("complete", "completed"))
        lines = [line for kind, status in events
                 for line in (f"event: {kind}", f"data: {json.dumps(run_json('r1', status))}", "")]
        trace = drive(ctx, watch.watch(ctx, queued), script((200, None)), lines=lines)
    else:
        responses = [(200, {"data": run_json("r1", s)}) for s in ("queued", "queued", "completed")]
        trace = drive(ctx, watch.watch(ctx, queued), script(*responses))
    assert [r.status for r in trace.emitted] == ["queued", "completed"]
    assert parsed == ["completed"]
    assert trace.result.status == "completed" and "r1" in ctx.known_runs


@pytest.mark.parametrize("content_type, body, expected", [
    ("application/json", b'{"a": "caf\xc3\xa9 \xff"}', {"a": "café \ufffd"}),  # bad UTF-8 replaced, as .text
    ("application/json; charset=latin-1", b'{"a": "caf\xe9"}', {"a": "café"}),  # a declared charset holds
    ("application/json", b'\xef\xbb\xbf{"a": 1}', None),  # a BOM is not JSON, as json.loads says
])
def test_a_body_reads_as_httpx_decodes_it(content_type, body, expected):
    response = httpx.Response(200, content=body, headers={"content-type": content_type})
    assert parse_body(response) == (expected, expected is not None)
