"""The key travels only to the server the user chose, together with that key: a base URL applies only
with the key from the same source, plain http is for loopback only, and origins compare the way URLs
do (scheme and host case-insensitive, default port implied)."""

from __future__ import annotations

import httpx
import pytest

from lamina_jupyter.core.protocol import Context


@pytest.mark.parametrize("base, url, same", [
    ("https://APP.uselamina.ai", "https://app.uselamina.ai/v1/apps", True),
    ("https://app.uselamina.ai:443", "https://app.uselamina.ai/v1/apps", True),
    ("HTTPS://app.uselamina.ai", "https://app.uselamina.ai:443/v1/apps", True),
    ("https://app.uselamina.ai", "http://app.uselamina.ai/v1/apps", False),
    ("https://app.uselamina.ai", "https://app.uselamina.ai:8443/v1/apps", False),
    ("https://app.uselamina.ai", "https://app.uselamina.ai.evil.example/v1/apps", False),
    ("https://app.uselamina.ai", "https://cdn.uselamina.ai/media/x.png", False),
])
def test_same_origin_compares_scheme_host_and_port_like_urls_do(base, url, same):
    assert Context(base_url=base).same_origin(httpx.Request("GET", url)) is same


def test_a_mixed_case_host_still_gets_the_key(emulator):
    from lamina_jupyter import Client

    shouting = emulator.base_url.replace("127.0.0.1", "LOCALHOST").replace("localhost", "LOCALHOST")
    with Client(api_key=emulator.api_key, base_url=shouting) as client:
        assert client.list_apps()
