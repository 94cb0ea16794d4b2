"""Fault matrix, load (issue 6 "Load"): 2,000 runs through AsyncClient and 2,000 rows through the
DataFrame fan-out against the emulator with no rate limit and tiny latency. Everything completes;
peak memory growth, file descriptors, connections and threads are measured and bounded.

The emulator serves from a thread of this same process, so the figures include its work (and its
share of the GIL); the printed per-second rates say which side is the bottleneck.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest
from batch_worker import wait_for
from suite import CAPTION_WRITER, TEXT_TO_IMAGE

from lamina_jupyter import AsyncClient, run_dataframe
from lamina_jupyter.batch import ledger_cache
from lamina_jupyter.batch.drive import release_spare
from lamina_jupyter.batch.engine import MAX_STARTS
from lamina_jupyter.batch.ledger import Journal

N = 2000
RSS_BOUND_MB = 100  # client + emulator for 2,000 runs; measured 11-18 MB peak growth (see test output)


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} in /proc/self/status")


def reset_peak() -> None:
    """Linux: writing 5 to clear_refs resets VmHWM (peak RSS) to the current RSS."""
    Path("/proc/self/clear_refs").write_text("5")


def release_kept() -> None:
    """What a fan-out keeps between calls on purpose, bounded (test_batch_ledger_cache,
    test_batch_worker_loop), is no leak: the ledger's connection and the idle worker loop."""
    ledger_cache.close_all()
    release_spare()


class Hygiene:
    """Threads, file descriptors and peak RSS around a load test."""

    def __enter__(self) -> Hygiene:
        release_kept()
        self.threads, self.fds = threading.active_count(), fds()
        reset_peak()
        self.rss0, self.t0 = rss_mb("VmRSS"), time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.monotonic() - self.t0
        self.peak_growth = rss_mb("VmHWM") - self.rss0

    def settled(self) -> tuple[int, int]:
        """(leaked fds, leaked threads) once the server side has closed its ends of our connections."""
        release_kept()
        with contextlib.suppress(AssertionError):
            wait_for(lambda: fds() <= self.fds and threading.active_count() <= self.threads, 5.0)
        return max(0, fds() - self.fds), max(0, threading.active_count() - self.threads)


@pytest.fixture
def unlimited(emulator):
    emulator.configure(latency=0.02, jitter=0.0, rate_limit=None)
    emulator.reset_stats()
    return emulator


def test_2000_runs_through_async_client(unlimited, scenario, capsys):
    emulator, tag = unlimited, uuid.uuid4().hex[:8]

    async def go() -> list[str]:
        async with AsyncClient(api_key=emulator.api_key, base_url=emulator.base_url) as ac:
            app = await ac.get_app(CAPTION_WRITER)
            sem = asyncio.Semaphore(100)  # = the connection pool

            async def one(i: int) -> str:
                async with sem:
                    run = await ac.start(app, {"Topic": f"{tag} load {i}"})
                    return (await ac.wait(run, timeout=60)).status

            return await asyncio.gather(*(one(i) for i in range(N)))

    with Hygiene() as h:
        statuses = asyncio.run(go())
    leaked_fds, leaked_threads = h.settled()
    stats = emulator.stats
    done = statuses.count("completed")
    scenario.add(
        rows_submitted=N,
        rows_completed=done,
        rows_lost=N - done,
        paid_twice=stats["runs_created"] - N + stats["duplicate_starts"],
    )
    with capsys.disabled():
        print(
            f"\n[load] AsyncClient: {N} runs in {h.seconds:.1f} s ({N / h.seconds:.0f} runs/s, "
            f"{stats['requests'] / h.seconds:.0f} req/s incl. the in-process emulator), peak RSS growth "
            f"{h.peak_growth:.0f} MB, leaked fds {leaked_fds}, leaked threads {leaked_threads}"
        )
    assert done == N and stats["runs_created"] == N and stats["duplicate_starts"] == 0
    assert h.peak_growth < RSS_BOUND_MB
    assert (leaked_fds, leaked_threads) == (0, 0)
    assert h.seconds < 60  # ~11 s measured alone on 2 cores; generous for a loaded CI machine


def test_2000_rows_through_the_fan_out(client, unlimited, scenario, tmp_path, capsys):
    emulator = unlimited
    tag = uuid.uuid4().hex[:8]
    df = pd.DataFrame({"prompt": [f"{tag} row {i}" for i in range(N)]})
    ledger = tmp_path / "load.sqlite"
    with Hygiene() as h:
        result = run_dataframe(
            df, TEXT_TO_IMAGE, client=client, journal=ledger, concurrency=64, progress=False
        )
    leaked_fds, leaked_threads = h.settled()
    stats = emulator.stats
    done = int((result["lamina_status"] == "completed").sum())
    scenario.add(
        rows_submitted=N,
        rows_completed=done,
        rows_lost=N - done,
        paid_twice=stats["runs_created"] - N + stats["duplicate_starts"],
    )
    with capsys.disabled():
        print(
            f"\n[load] fan-out: {N} rows in {h.seconds:.1f} s ({N / h.seconds:.0f} rows/s; at most "
            f"{MAX_STARTS} starts in flight, each commits 2 ledger writes), "
            f"peak RSS growth {h.peak_growth:.0f} MB, "
            f"ledger {ledger.stat().st_size // 1024} KB, leaked fds {leaked_fds}, "
            f"leaked threads {leaked_threads}"
        )
    assert done == N and list(result["prompt"]) == list(df["prompt"])
    assert stats["runs_created"] == N and stats["duplicate_starts"] == 0
    with Journal(ledger) as j:
        assert j.states() == {"TERMINAL": N}
    assert h.peak_growth < RSS_BOUND_MB
    assert (leaked_fds, leaked_threads) == (0, 0)
    assert h.seconds < 60  # ~11 s measured alone on 2 cores; generous for a loaded CI machine


def test_httpcore_can_import_sniffio():
    """httpcore imports sniffio each time it makes a lock; without it every import fails anew and
    scans sys.path (measured: 2,000 AsyncClient runs took 8.9 s instead of 7.1 s)."""
    import importlib.util

    assert importlib.util.find_spec("sniffio") is not None, "declare sniffio in pyproject.toml"
