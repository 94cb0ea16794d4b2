"""What the CPU benches share: an emulator in its own process (so only the client's CPU is counted)
and plain httpx making the same requests as the library, as the floor to compare against."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

APP = "3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a01"  # Text to Image


@contextmanager
def emulator_process(latency: float = 0.05, jitter: float = 0.0,
                     check_interval: float = 2.0) -> Iterator[tuple[str, str]]:
    """(base_url, key) of `python -m lamina_jupyter.emulator` on a free loopback port."""
    key = "lma_bench_" + secrets.token_hex(8)
    cmd = [sys.executable, "-m", "lamina_jupyter.emulator", "--port", "0", "--api-key", key,
           "--latency", str(latency), "--jitter", str(jitter), "--failure-rate", "0", "--no-rate-limit",
           "--check-interval", str(check_interval)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if "listening on " not in line:
            raise RuntimeError(f"the emulator did not start: {line!r}")
        yield line.rsplit(" ", 1)[1].strip(), key
    finally:
        proc.terminate()
        proc.wait(10)


def cpu(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(CPU seconds of this whole process, every thread, result of fn())."""
    c0 = time.process_time()
    result = fn()
    return time.process_time() - c0, result


class PlainHttpx:
    """The floor: a bare httpx.AsyncClient starting each run and watching it with "wait" or "stream",
    the same 2 requests per run as the library, with no validation, retries, governor or ledger, and
    reading what a careful caller must: the run id, and the final status (from the /wait JSON, or
    the JSON of the stream's `complete`/`error` event). In-flight runs are capped at httpx's pool
    size, as any careful caller would (past it httpcore's pool bookkeeping dominates). Its pool is
    httpx's default, as a plain caller's is: it also pays httpcore's handovers and reconnects (with
    more than 20 connections it closes every one that goes idle), which the library avoids."""

    def __init__(self, base_url: str, key: str, pool: int = 100) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {key}"},
                                      timeout=httpx.Timeout(60, pool=None))
        self.slots = asyncio.Semaphore(pool)

    async def run(self, prompt: str, wait: str) -> str:
        async with self.slots:
            started = await self.http.post(f"/v1/apps/{APP}/runs", json={"inputs": {"Prompt": prompt}})
            run_id = started.json()["data"]["runId"]
            if wait == "stream":
                return await self._streamed(run_id)
            while True:
                status = (await self.http.get(f"/v1/runs/{run_id}/wait", params={"timeout": 60})).json()[
                    "data"]["status"]
                if status not in ("queued", "running"):
                    return status

    async def _streamed(self, run_id: str) -> str:
        status, event = "", ""
        async with self.http.stream("GET", f"/v1/runs/{run_id}/stream") as response:
            async for line in response.aiter_lines():  # read to the end: the connection is reused
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    status = json.loads(line[5:])["status"]
        return status

    async def runs(self, prompts: list[str], wait: str) -> None:
        statuses = await asyncio.gather(*(self.run(p, wait) for p in prompts))
        assert all(s == "completed" for s in statuses), statuses

    async def aclose(self) -> None:
        await self.http.aclose()


def emulator_stats(base_url: str, key: str, reset: bool = False) -> dict[str, Any]:
    """The emulator's request counters (its admin surface), optionally zeroed."""
    headers = {"Authorization": f"Bearer {key}"}
    if reset:
        return httpx.post(f"{base_url}/_emulator/stats/reset", headers=headers).json()["data"]
    return httpx.get(f"{base_url}/_emulator/stats", headers=headers).json()["data"]
