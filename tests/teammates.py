"""Other people using the same workspace: runs started by another process (raw HTTP, so nothing in
this process knows them), once or continuously. The crowded twin of the quiet fixtures: the right
run must land in the right row while strangers start the same app around it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import httpx

from lamina_jupyter.emulator import Emulator


def teammate_start(emulator: Any, app_id: str, inputs: dict[str, Any], endpoint: str = "runs") -> str:
    """Start a run the way another notebook or the CLI would; returns its id. endpoint="executions"
    (the older path, same runs) keeps faults scripted on POST /v1/apps/*/runs for our own starts."""
    headers = {"Authorization": f"Bearer {emulator.api_key}"}
    reply = httpx.post(f"{emulator.base_url}/v1/apps/{app_id}/{endpoint}", json={"inputs": inputs},
                       headers=headers, timeout=10)
    reply.raise_for_status()
    data = reply.json()["data"]
    return str(data.get("runId") or data["executionId"])


@contextlib.contextmanager
def crowd(emulator: Any, app_id: str, inputs: dict[str, Any], every: float = 0.15,
          gate: threading.Lock | None = None) -> Iterator[list[str]]:
    """A teammate starting `app_id` every `every` seconds while the block runs; yields their run ids.
    Each start holds `gate` when given, so a test holding it keeps the crowd still for a moment."""
    started: list[str] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            with gate or contextlib.nullcontext():
                started.append(teammate_start(emulator, app_id, inputs, endpoint="executions"))

    thread = threading.Thread(target=loop, name="teammate", daemon=True)
    thread.start()
    try:
        yield started
    finally:
        stop.set()
        thread.join(5)


@contextlib.contextmanager
def private_emulator(**settings: Any) -> Iterator[Emulator]:
    """A server of its own: a new origin, so nothing in this process knows its clock or its runs yet."""
    with Emulator(**{"latency": 0.1, "jitter": 0.0, "rate_limit": None, **settings}) as emu:
        yield emu
