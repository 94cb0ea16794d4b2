"""`Emulator`: the whole local Lamina API served by uvicorn on a background thread.

The server runs on its own event loop in a daemon thread so it works inside Jupyter (whose loop is
already running) and in plain scripts alike. Public methods may be called from any thread: those
that touch run state hop onto the emulator's loop and wait for the answer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import uvicorn

from . import admin, assets, routes_discover, routes_legacy, routes_refine, routes_v1, stream
from .apps import APPS, edited
from .config import Settings, Stats
from .dispatch import EmulatorApp
from .outputs import InputFetcher, complete_output
from .run import iso
from .signer import WebhookDeliverer, WebhookSigner
from .state import State
from .store import RunStore
from .web import Router

T = TypeVar("T")
START_TIMEOUT = 10.0


class Emulator:
    """A local Lamina API. Use as a context manager, or call start()/stop()."""

    def __init__(
        self,
        latency: float = 2.0,
        jitter: float = 0.2,
        failure_rate: float = 0.0,
        rate_limit: int | None = 100,
        time_factor: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        seed: int = 0,
        signing_seed: bytes | None = None,
        rate_limit_headers: str = "on-429",
        check_interval: float = 2.0,
        rate_limit_window: str = "sliding",
    ) -> None:
        self.settings = Settings(
            latency,
            jitter,
            failure_rate,
            rate_limit,
            time_factor,
            rate_limit_headers=rate_limit_headers,
            check_interval=check_interval,
            rate_limit_window=rate_limit_window,
        )
        self.settings.validate()
        self._stats = Stats()
        self.host, self.port = host, port
        key = api_key or "lma_demo_" + secrets.token_hex(12)
        workspace_id, user_id = State.new_ids(key)
        store = RunStore(self.settings, self._stats, seed)
        self.state = State(self.settings, self._stats, store, key, workspace_id, user_id)
        self.signer = WebhookSigner(signing_seed)
        self.deliverer = WebhookDeliverer(self.signer, self.settings, self._stats, user_id)
        self.state.signer = self.signer
        self.state.fetcher = InputFetcher(self.state)
        store.complete_output = lambda run, out: complete_output(self.state, run, out)
        store.on_terminal = self.deliverer.deliver
        router = Router()
        routes_discover.register(router)
        routes_v1.register(router)
        routes_refine.register(router)
        stream.register(router)
        assets.register(router)
        routes_legacy.register(router)
        admin.register(router, self)
        self.app = EmulatorApp(self.state, router)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self._error: BaseException | None = None

    # identity ------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self.state.base_url

    @property
    def api_key(self) -> str:
        return self.state.api_key

    @property
    def workspace_id(self) -> str:
        return self.state.workspace_id

    def __repr__(self) -> str:  # never shows the key
        return f"<Emulator {self.base_url or 'not started'}>"

    # lifecycle -----------------------------------------------------------------------------------
    def start(self) -> Emulator:
        if self._thread is not None:
            raise RuntimeError("this Emulator is already started; create a new one to serve twice")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto must be IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose
        # proto says TCP, and without it Nagle + delayed ACK add ~40 ms to every response.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise OSError(
                f"cannot listen on {self.host}:{self.port} ({exc.strerror}); pick another port "
                "or use port=0 for a free one"
            ) from exc
        self.port = sock.getsockname()[1]
        host = f"[{self.host}]" if family == socket.AF_INET6 else self.host
        self.state.base_url = f"http://{host}:{self.port}"
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_config=None,
            log_level="error",
            access_log=False,
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, args=(sock,), name="lamina-emulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._thread.join(1)
                raise RuntimeError(f"the emulator did not start: {self._error!r}")
            time.sleep(0.002)
        return self

    def _serve(self, sock: socket.socket) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main(sock))
        except BaseException as exc:  # reported by start()/stop()
            self._error = exc
        finally:
            sock.close()
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    async def _main(self, sock: socket.socket) -> None:
        assert self._server is not None
        self.state.closing = asyncio.Event()
        self.state.store.loop = asyncio.get_running_loop()
        try:
            await self._server.serve(sockets=[sock])
        finally:
            self.state.store.shutdown()
            await self.deliverer.close()
            await self.state.fetcher.close()

    def stop(self) -> None:
        thread, server = self._thread, self._server
        if thread is None or server is None or not thread.is_alive():
            return
        if self._loop is not None and self.state.closing is not None:
            self._loop.call_soon_threadsafe(self.state.closing.set)
        server.should_exit = True
        thread.join(10)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # control (any thread) ------------------------------------------------------------------------
    def _call(self, fn: Callable[[], T]) -> T:
        loop = self._loop
        if loop is None or loop.is_closed() or threading.current_thread() is self._thread:
            return fn()
        future: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        try:
            loop.call_soon_threadsafe(run)
        except RuntimeError:  # loop closed meanwhile
            return fn()
        return future.result(10)

    @property
    def stats(self) -> dict[str, Any]:
        return self._call(self._stats.snapshot)

    def reset_stats(self) -> None:
        self._call(self._stats.reset)

    def runs(self) -> list[dict[str, Any]]:
        return self._call(self.runs_now)

    def runs_now(self) -> list[dict[str, Any]]:
        return [
            {
                "run_id": r.id,
                "app_id": r.app.id,
                "inputs": r.raw_inputs,
                "status": r.status,
                "created_at": iso(r.created),
                "family": r.family,
            }
            for r in self.state.store.order
        ]

    def configure(self, **changes: Any) -> None:
        self._call(lambda: self.configure_now(**changes))

    def configure_now(self, **changes: Any) -> None:
        was_held = self.settings.hold
        before = (self.settings.rate_limit, self.settings.time_factor, self.settings.rate_limit_window)
        self.settings.update(**changes)
        if "credits" in changes:  # a new grant: the balance starts again from it
            self.state.credits_spent = 0.0
        if before != (self.settings.rate_limit, self.settings.time_factor, self.settings.rate_limit_window):
            self.state.limiter.reset()
        if was_held and not self.settings.hold and self.state.store.loop is not None:
            self.state.store.release_held()

    def inject(self, kind: str, *, route: str = "*", times: int | None = 1, **params: Any) -> None:
        self._call(lambda: self.state.faults.add(kind, route, times, **params))

    def clear_faults(self) -> None:
        self._call(self.state.faults.clear)

    def edit_app(
        self, app_id: str, *, drop: tuple[str, ...] | list[str] = (), options: dict[str, Any] | None = None
    ) -> None:
        """Change a sample app as its author would: remove parameters (by id), replace option lists.
        Only this emulator sees the change; restore_apps() undoes every edit."""
        def change() -> None:
            self.state.apps[app_id] = edited(self.state.apps[app_id], drop, options)

        self._call(change)

    def restore_apps(self) -> None:
        self._call(lambda: self.state.apps.update(APPS))

    def webhook_attempts(self) -> list[dict[str, Any]]:
        """Every webhook POST attempt so far: run_id, url, attempt number, status, error, at (unix s)."""
        return self._call(self.deliverer.attempts)

    def signing_jwk(self) -> dict[str, str]:
        return self.signer.jwk()
