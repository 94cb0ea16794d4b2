"""The kernel-wide "current client" shared by the magic, the forms and the DataFrame fan-out.

One place holds the settings (key in a `Secret`, never a bare string) so `%lamina login` or
`%lamina demo` in one cell changes what every later cell uses. A sync `Client` is kept for the
magic; forms get a fresh `AsyncClient` per run because an httpx async pool belongs to the loop it
was made on.
"""

from __future__ import annotations

import atexit
import os
from typing import Any
from urllib.parse import urlsplit

from ..core import connection
from ..core.client import AsyncClient, Client
from ..core.config import DEFAULT_BASE_URL, Settings
from ..core.errors import ConfigurationError, LaminaError
from ..core.redact import Secret

DEMO_SETTINGS = dict(latency=0.6, jitter=0.0, failure_rate=0.0, rate_limit=100)

_client: Client | None = None
_demo: Any = None  # the Emulator this kernel started, if any
mode = ""  # "", "login", "demo", "demo (shared)"


def current_client() -> Client:
    """The session client, created on first use from the environment / .env / ~/.lamina.
    Raises ConfigurationError (saying to use %lamina login or %lamina demo) when no key is found."""
    global _client
    if _client is None:
        try:
            _client = Client()
        except ConfigurationError as exc:
            raise ConfigurationError(f"{exc.message}\nIn a notebook: `%lamina login` (hidden prompt) or "
                                     "`%lamina demo` (local emulator, nothing billed).") from None
    return _client


def _session_settings() -> Settings | None:
    return _client.settings if _client is not None else None


connection.session_settings = _session_settings  # a bare Client() in a later cell uses this session


def set_client(client: Client, how: str) -> Client:
    """Make `client` the kernel's client (closing the previous one)."""
    global _client, mode
    if _client is not None and _client is not client:
        _client.close()
    _client, mode = client, how
    return client


def login(secret: Secret, base_url: str | None = None, api: str = "v1") -> Client:
    """A client for this key, checked with one cheap call so a typo fails now, not at the first run.
    A typed key goes only to the server typed with it (`--base-url`) or the real one: demo mode is left
    first, and a LAMINA_BASE_URL meant for another key is not used."""
    if mode.startswith("demo"):
        reset()  # stops the demo and withdraws its LAMINA_*, so the typed key cannot reach the emulator
    client = Client(api_key=secret, base_url=base_url or DEFAULT_BASE_URL, api=api)
    try:
        client.list_apps(limit=1)
    except LaminaError:
        client.close()
        raise
    set_client(client, "login")
    stop_demo()  # also withdraws the demo's LAMINA_* so a plain Client() cannot reach the emulator by mistake
    return client


def async_client(source: Client | None = None) -> AsyncClient:
    """A new AsyncClient with the same settings and rate governor as `source` (default: the session's)."""
    src = source or current_client()
    s = src.settings
    return AsyncClient(api_key=s.api_key, base_url=s.base_url, api=s.api, timeout=s.timeout,
                       max_retries=s.max_retries, governor=src.governor)


def _is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in ("127.0.0.1", "localhost", "::1")


DEMO_MARKER = "LAMINA_DEMO_URL"  # set beside LAMINA_BASE_URL/KEY only by a demo (make demo, %lamina demo)


def start_demo() -> tuple[Client, str]:
    """Point the kernel at a local emulator: reuse the one `make demo` exported through LAMINA_* when it
    answers, else start one in this process. Returns (client, where it came from)."""
    global _demo
    url, key = os.environ.get("LAMINA_BASE_URL", ""), os.environ.get("LAMINA_API_KEY", "")
    # Only an emulator a demo started: a real key beside a local proxy's URL must never be sent there.
    if url and key and _is_loopback(url) and os.environ.get(DEMO_MARKER) == url:
        client = Client(api_key=Secret(key), base_url=url)
        del key
        try:
            client.list_apps(limit=1)
            return set_client(client, "demo (shared)"), "the emulator started by `make demo`"
        except LaminaError:
            client.close()
    if _demo is None:
        from ..emulator import Emulator

        _demo = Emulator(**DEMO_SETTINGS).start()  # type: ignore[arg-type]
        atexit.register(stop_demo)
    # Demo keys are throw-away and local: exporting them lets a plain `Client()` in later cells (and
    # subprocesses) reach the emulator too. Real keys from `%lamina login` are never exported.
    os.environ["LAMINA_BASE_URL"], os.environ["LAMINA_API_KEY"] = _demo.base_url, _demo.api_key
    os.environ[DEMO_MARKER] = _demo.base_url
    client = Client(api_key=Secret(_demo.api_key), base_url=_demo.base_url)
    return set_client(client, "demo"), "an emulator started in this kernel"


def stop_demo() -> None:
    global _demo
    if _demo is not None:
        if os.environ.get("LAMINA_BASE_URL") == _demo.base_url:
            os.environ.pop("LAMINA_BASE_URL", None)
            os.environ.pop("LAMINA_API_KEY", None)
            os.environ.pop(DEMO_MARKER, None)
        _demo.stop()
        _demo = None


def demo_emulator() -> Any:
    """The Emulator this kernel started (tests and the quickstart inspect what it received)."""
    return _demo


def reset() -> None:
    """Forget the client and stop a demo emulator (tests, and `%lamina login` after a demo)."""
    global _client, mode
    if _client is not None:
        _client.close()
    _client, mode = None, ""
    stop_demo()
