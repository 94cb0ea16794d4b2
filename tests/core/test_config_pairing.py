"""The key travels only to the server the user chose, together with that key: a base URL applies only
with the key from the same source, plain http is for loopback only, and origins compare the way URLs
do (scheme and host case-insensitive, default port implied)."""

from __future__ import annotations

import json

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


def _config(home, key=None, base=None):
    from pathlib import Path

    folder = Path(home) / ".lamina"
    folder.mkdir(exist_ok=True)
    creds = {"kind": "apikey", **({"apiKey": key} if key else {}), **({"baseUrl": base} if base else {})}
    path = folder / "config.json"
    path.write_text(json.dumps({"version": 1, "credentials": creds}))
    path.chmod(0o600)


def _put(where, name, value, monkeypatch, tmp_path):
    """Put LAMINA_<name> at one of the places the client looks."""
    if where == "environment":
        monkeypatch.setenv(f"LAMINA_{name}", value)
    elif where == ".env":
        with (tmp_path / ".env").open("a") as f:
            f.write(f"LAMINA_{name}={value}\n")
    else:
        _config(tmp_path / "home", **({"key": value} if name == "API_KEY" else {"base": value}))


SOURCES = ["environment", ".env", "config"]


@pytest.mark.parametrize("key_at, url_at", [(k, u) for k in SOURCES for u in SOURCES if k != u])
def test_a_base_url_from_another_source_than_the_key_is_ignored_with_a_warning(
        key_at, url_at, emulator, monkeypatch, tmp_path):
    """A cloned repository's .env naming a server must not receive the key the user keeps elsewhere."""
    from lamina_jupyter import LaminaWarning
    from lamina_jupyter.core.config import DEFAULT_BASE_URL, resolve_settings

    _put(key_at, "API_KEY", emulator.api_key, monkeypatch, tmp_path)
    _put(url_at, "BASE_URL", emulator.base_url, monkeypatch, tmp_path)
    with pytest.warns(LaminaWarning) as record:
        settings = resolve_settings()
    assert settings.base_url == DEFAULT_BASE_URL and settings.key_source != "argument"
    text = str(record[0].message)
    assert emulator.base_url in text and "ignored" in text and emulator.api_key not in text


@pytest.mark.parametrize("where", SOURCES)
def test_key_and_base_url_from_the_same_source_reach_that_server(where, emulator, monkeypatch, tmp_path):
    from lamina_jupyter import Client

    if where == "config":
        _config(tmp_path / "home", key=emulator.api_key, base=emulator.base_url)
    else:
        _put(where, "API_KEY", emulator.api_key, monkeypatch, tmp_path)
        _put(where, "BASE_URL", emulator.base_url, monkeypatch, tmp_path)
    with Client() as client:
        assert client.base_url == emulator.base_url and client.list_apps(limit=1)


def test_a_key_argument_goes_to_the_default_server_not_a_discovered_url(emulator, monkeypatch, tmp_path):
    from lamina_jupyter import LaminaWarning
    from lamina_jupyter.core.config import DEFAULT_BASE_URL, resolve_settings

    (tmp_path / ".env").write_text(f"LAMINA_BASE_URL={emulator.base_url}\n")
    with pytest.warns(LaminaWarning, match="ignored"):
        assert resolve_settings("lma_typed_in_123456").base_url == DEFAULT_BASE_URL


def test_an_explicit_base_url_argument_is_the_users_choice_for_any_key(emulator, monkeypatch, tmp_path):
    from lamina_jupyter import Client

    (tmp_path / ".env").write_text(f"LAMINA_API_KEY={emulator.api_key}\n")
    with Client(base_url=emulator.base_url) as client:
        assert client.list_apps(limit=1)
    with Client(api_key=emulator.api_key, base_url=emulator.base_url) as client:
        assert client.list_apps(limit=1)


@pytest.mark.parametrize("url", ["http://example.com", "http://10.0.0.1:8000", "http://127.0.0.1.evil.example",
                                 "http://localhost.evil.example", "http://127.0.0.1@evil.example",
                                 "http://[::ffff:10.0.0.1]"])
def test_plain_http_is_refused_off_this_machine(url, monkeypatch):
    from lamina_jupyter import ConfigurationError
    from lamina_jupyter.core.config import resolve_settings

    with pytest.raises(ConfigurationError) as info:
        resolve_settings("lma_typed_in_123456", url)
    text = str(info.value)
    assert "unencrypted" in text and "https://" in text and "127.0.0.1" in text
    monkeypatch.setenv("LAMINA_API_KEY", "lma_fromenv_123456")
    monkeypatch.setenv("LAMINA_BASE_URL", url)
    with pytest.raises(ConfigurationError, match="LAMINA_BASE_URL"):
        resolve_settings()


@pytest.mark.parametrize("url", ["http://127.0.0.1:9", "http://127.8.9.10:9", "http://localhost:9",
                                 "http://LOCALHOST:9", "http://[::1]:9", "https://example.com",
                                 "https://10.0.0.1:8443", "HTTPS://Lamina.Example.org/"])
def test_https_anywhere_and_http_on_loopback_are_accepted(url):
    from lamina_jupyter.core.config import resolve_settings

    assert resolve_settings("lma_typed_in_123456", url).base_url == url.rstrip("/")


def test_the_repr_names_a_server_other_than_lamina_plainly(emulator, monkeypatch, tmp_path):
    from lamina_jupyter import Client

    with Client(api_key=emulator.api_key, base_url=emulator.base_url) as client:
        text = repr(client)
    assert emulator.base_url in text and "not app.uselamina.ai" in text and emulator.api_key not in text
    monkeypatch.setenv("LAMINA_API_KEY", emulator.api_key)
    monkeypatch.setenv("LAMINA_BASE_URL", emulator.base_url)
    with Client() as client:
        assert "LAMINA_BASE_URL" in repr(client)
    monkeypatch.delenv("LAMINA_BASE_URL")
    with Client() as client:
        assert "not app.uselamina.ai" not in repr(client)
