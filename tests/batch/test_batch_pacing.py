"""A batch runs at the server's declared limit without a 429, whatever the server's window (sliding or
fixed) and whether RateLimit-* headers come on every response or, as the docs show, only with a 429:
the fan-out reads the limit from the usage endpoint before its first start."""

from __future__ import annotations

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
