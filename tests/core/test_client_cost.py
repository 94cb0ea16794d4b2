"""The client's own cost: one SSL context per process, connections kept across event-stream waits,
in-flight requests capped at the pool, a bounded memory of run ids.

Requests and connections are counted, not timed (the machine is shared); bench/client.py prints
the CPU ratios against plain httpx.
"""

from __future__ import annotations

import pytest

from lamina_jupyter import AsyncClient, Client


def _ssl_context(http_client):
    return http_client._transport._pool._ssl_context


@pytest.mark.anyio
async def test_every_client_shares_one_ssl_context(emulator):
    """httpx loads the certificate store per client (~53 ms); a fan-out makes a client per call."""
    with Client(api_key=emulator.api_key, base_url=emulator.base_url) as a, \
            Client(api_key=emulator.api_key, base_url=emulator.base_url) as b:
        async with AsyncClient(api_key=emulator.api_key, base_url=emulator.base_url) as c:
            assert _ssl_context(a._http) is _ssl_context(b._http) is _ssl_context(c._http)
