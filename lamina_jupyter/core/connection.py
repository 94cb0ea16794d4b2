"""What both clients share and do no I/O for: settings, the Bearer auth, the flow context, repr.

The key is unwrapped only in `_BearerAuth.auth_flow`, for requests to the configured server.
"""

from __future__ import annotations

from collections.abc import Generator

import httpx

from .claims import RUNS, clock_for
from .config import Settings, resolve_settings
from .protocol import Context
from .ratelimit import RateGovernor, governor_for
from .redact import Secret


def session_settings() -> Settings | None:
    """The kernel session's settings, or None. The notebook layer replaces this function so a bare
    `Client()` after `%lamina login` / `%lamina demo` uses that key and server (core never imports it)."""
    return None


class _BearerAuth(httpx.Auth):
    """Adds `Authorization: Bearer` to requests for the Lamina server only (never to media or upload
    hosts). The key is unwrapped here and nowhere else."""

    def __init__(self, secret: Secret, ctx: Context) -> None:
        self._secret = secret
        self._ctx = ctx

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._ctx.same_origin(request):
            request.headers["Authorization"] = "Bearer " + self._secret.reveal()
        yield request


class ClientBase:
    """Settings, context and repr shared by both clients (no I/O here)."""

    def __init__(self, api_key: str | Secret | None = None, base_url: str | None = None, api: str = "v1",
                 timeout: float | httpx.Timeout | None = None, max_retries: int = 2, *,
                 governor: RateGovernor | None = None, wait_strategy: str = "auto",
                 interactive: bool = True) -> None:
        api_key = Secret(api_key) if isinstance(api_key, str) else api_key  # never a bare str in a frame
        if api_key is None and base_url is None and (session := session_settings()) is not None:
            api_key, base_url, api = session.api_key, session.base_url, session.api if api == "v1" else api
        if wait_strategy not in ("auto", "wait", "stream", "poll"):
            raise ValueError(f"wait_strategy must be auto, wait, stream or poll, not {wait_strategy!r}")
        self.settings: Settings = resolve_settings(api_key, base_url, api, timeout, max_retries)
        self._ctx = Context(base_url=self.settings.base_url, api=api, timeout=self.settings.timeout,
                            max_retries=max_retries,
                            governor=governor or governor_for(self.settings.base_url),
                            strategy=wait_strategy, interactive=interactive,
                            known_runs=RUNS, server_clock=clock_for(self.settings.base_url))
        self._auth = _BearerAuth(self.settings.api_key, self._ctx)

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    @property
    def api(self) -> str:
        return self.settings.api

    @property
    def governor(self) -> RateGovernor:
        """The process-wide rate governor for this server (shared with every other client)."""
        return self._ctx.governor

    def __repr__(self) -> str:
        settings = getattr(self, "settings", None)  # a traceback may repr a half-built client
        if settings is None:
            return f"<{type(self).__name__} (not configured)>"
        return (f"<{type(self).__name__} base_url={settings.server} api={settings.api!r} "
                f"api_key={settings.api_key.masked!r}>")


