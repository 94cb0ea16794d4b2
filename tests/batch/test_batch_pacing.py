"""A batch runs at the server's declared limit without a 429, whatever the server's window (sliding or
fixed) and whether RateLimit-* headers come on every response or, as the docs show, only with a 429:
the fan-out reads the limit from the usage endpoint before its first start."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from lamina_jupyter import run_dataframe
from lamina_jupyter.core.ratelimit import governor_for

LIMIT, TIME_FACTOR = 12, 0.05  # 12 requests per 3 s window


@pytest.mark.parametrize("headers", ["on-429", "always"])
@pytest.mark.parametrize("window", ["sliding", "fixed"])
def test_a_batch_paces_itself_at_the_declared_limit(emulator, client, prompts, headers, window):
    emulator.configure(rate_limit=LIMIT, time_factor=TIME_FACTOR, rate_limit_headers=headers,
                       rate_limit_window=window, latency=0.05)
    emulator.reset_stats()
    df = prompts(14)  # 1 usage + 2 x 14 requests: three windows' worth
    result = run_dataframe(df, "Text to Image", client=client, concurrency=8, progress=False)
    stats = emulator.stats
    assert (result["lamina_status"] == "completed").all(), result["lamina_error"].tolist()
    assert stats["rate_limited"] == 0
    assert stats["requests_by_route"].get("GET /v1/account/usage") == 1, stats["requests_by_route"]
    assert governor_for(emulator.base_url).state()["limit"] == LIMIT


def test_an_unlimited_server_is_not_paced(emulator, client, prompts):
    """The tests' own emulator declares no limit: nothing is learned, nothing slows down."""
    result = run_dataframe(prompts(3), "Text to Image", client=client, progress=False)
    assert (result["lamina_status"] == "completed").all()
    state = governor_for(emulator.base_url).state()
    assert state["limit"] is None and state["interval"] == 0


@pytest.mark.anyio
async def test_a_usage_endpoint_that_never_answers_does_not_hold_the_batch(emulator, prompts, monkeypatch):
    """Reading the limit only helps pacing: a usage endpoint that hangs (here 60 s, inside the client's
    read timeout) is given up after a short patience and the batch starts without it, instead of
    waiting out three read timeouts (1.5 minutes by default) with nothing on the display."""
    from lamina_jupyter import AsyncClient, arun_dataframe
    from lamina_jupyter.batch import engine

    monkeypatch.setattr(engine, "USAGE_PATIENCE", 0.5)
    emulator.inject("delay", route="GET /v1/account/usage", times=None, seconds=60)
    async with AsyncClient(api_key=emulator.api_key, base_url=emulator.base_url, timeout=120) as client:
        result = await asyncio.wait_for(
            arun_dataframe(prompts(2), "Text to Image", client=client, progress=False), 30)
    assert (result["lamina_status"] == "completed").all(), result["lamina_error"].tolist()
    assert governor_for(emulator.base_url).state()["limit"] is None  # nothing learned, nothing invented


def test_a_batch_sends_all_its_starts_before_its_first_watch(emulator, client, prompts):
    """Starts go before watches (core/ratelimit.py): with room for every row at once, the server sees
    all 8 starts before the first /stream, /wait or poll of a run. The emulator's counters are read
    atomically on its own loop every few ms while the batch runs (first come first served opened the
    first stream after 2 of the 8 starts, and they interleaved for ~4 s)."""
    emulator.configure(rate_limit=20, time_factor=0.1, latency=0.2)  # 20 per 6 s: 0.3 s apart
    emulator.reset_stats()
    rows, seen, done = 8, [], threading.Event()

    def counts() -> tuple[int, int]:
        routes = emulator.stats["requests_by_route"]
        return (sum(n for route, n in routes.items() if route == "POST /v1/apps/{id}/runs"),
                sum(n for route, n in routes.items() if route.startswith("GET /v1/runs/{id}")))

    def observe() -> None:
        while not done.is_set():
            seen.append(counts())
            time.sleep(0.01)

    watcher = threading.Thread(target=observe)
    watcher.start()
    try:
        result = run_dataframe(prompts(rows), "Text to Image", client=client, concurrency=rows,
                               progress=False)
    finally:
        done.set()
        watcher.join()
    assert (result["lamina_status"] == "completed").all(), result["lamina_error"].tolist()
    assert emulator.stats["rate_limited"] == 0
    assert counts() == (rows, rows), emulator.stats["requests_by_route"]  # one start, one stream each
    watched = [starts for starts, watches in seen if watches]
    assert len(watched) > 10 and min(watched) == rows, sorted(set(seen))
