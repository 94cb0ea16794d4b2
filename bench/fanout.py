"""DataFrame fan-out figures, measured in one run against the local emulator.

1. No rate limit, latency 1 s ± 20 %: wall time of 1,000 rows ÷ the physical limit
   (rows × mean latency ÷ concurrency), and the speed-up over a thread pool of the same size that
   starts runs and polls each every 3 s as Lamina's docs advise (measured on 200 rows; throughputs
   are compared, so the row counts need not match).
2. Peak RSS of a client process fanning out a 10,000-row frame (latency 0, ledger on).
3. Lamina's default 100 requests/min limit with ~30 s runs, both scaled by time_factor so it takes
   seconds instead of an hour: completed runs per (scaled) minute vs the bound the limit permits
   (100 ÷ requests per run), failed rows, and the same for the polling baseline.
4. The sync entry point's worker-thread overhead per call vs nest_asyncio (why batch/api.py uses a thread).
Run: .venv/bin/python bench/fanout.py
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from lamina_jupyter import Client, run_dataframe
from lamina_jupyter.emulator import Emulator

APP = "3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a01"  # Text to Image


def frame(n: int) -> pd.DataFrame:
    tag = uuid.uuid4().hex[:8]
    return pd.DataFrame({"prompt": [f"{tag} bench {i}" for i in range(n)]})


def polling_baseline(client: Client, df: pd.DataFrame, workers: int, every: float) -> tuple[float, int]:
    """What the docs suggest without this library: a thread pool, start, then poll every `every` s."""

    def one(prompt: str) -> str:
        run = client.start(APP, {"Prompt": prompt})
        while not run.is_done:
            time.sleep(every)
            run = client.get_run(run.id)
        return run.status

    t0 = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        statuses = list(pool.map(one, df["prompt"]))
    return time.monotonic() - t0, sum(s != "completed" for s in statuses)


def part1(emu: Emulator, client: Client, rows: int = 1000, concurrency: int = 16) -> None:
    emu.configure(latency=1.0, jitter=0.2, rate_limit=None, time_factor=1.0)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        result = run_dataframe(
            frame(rows),
            APP,
            client=client,
            concurrency=concurrency,
            progress=False,
            journal=Path(tmp) / "runs.sqlite",
        )
        wall = time.monotonic() - t0
    limit = rows * 1.0 / concurrency
    ok = (result["lamina_status"] == "completed").sum()
    print(
        f"[1] {rows} rows, latency 1 s ± 20 %, concurrency {concurrency}: wall {wall:.1f} s, physical limit "
        f"{limit:.1f} s → ratio {wall / limit:.3f}; completed {ok}/{rows}"
    )
    base_rows = 200
    base_wall, base_failed = polling_baseline(client, frame(base_rows), concurrency, 3.0)
    speedup = (rows / wall) / (base_rows / base_wall)
    print(
        f"    polling baseline (thread pool {concurrency}, poll every 3 s, {base_rows} rows): "
        f"{base_wall:.1f} s "
        f"= {base_rows / base_wall:.2f} rows/s vs {rows / wall:.2f} rows/s → speed-up ×{speedup:.2f}"
    )


RSS_CHILD = textwrap.dedent("""
    import resource, sys, time, uuid
    import pandas as pd
    from lamina_jupyter import Client, run_dataframe
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    df = pd.DataFrame({"prompt": [f"{uuid.uuid4().hex[:8]} rss {i}" for i in range(10000)]})
    t0 = time.monotonic()
    with Client() as c:
        r = run_dataframe(df, sys.argv[1], client=c, concurrency=64, progress=False, journal=sys.argv[2])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(base, peak, (r["lamina_status"] == "completed").sum(), time.monotonic() - t0)
""")


def part2(emu: Emulator) -> None:
    emu.configure(latency=0.0, jitter=0.0, rate_limit=None, time_factor=1.0)
    env = {**os.environ, "LAMINA_API_KEY": emu.api_key, "LAMINA_BASE_URL": emu.base_url}
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, "-c", RSS_CHILD, APP, str(Path(tmp) / "runs.sqlite")],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    base, peak, done, wall = int(out[0]), int(out[1]), int(out[2]), float(out[3])
    print(
        f"[2] 10,000-row frame (client process, ledger on, concurrency 64): peak RSS {peak / 1024:.0f} MiB "
        f"(after imports {base / 1024:.0f} MiB, growth {(peak - base) / 1024:.0f} MiB); {done} completed "
        f"in {wall:.0f} s"
    )


def part3(
    emu: Emulator, client: Client, factor: float = 0.05, rows: int = 300, concurrency: int = 32
) -> None:
    window = 60 * factor
    emu.configure(latency=30 * factor, jitter=0.2, rate_limit=100, time_factor=factor)
    emu.reset_stats()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        result = run_dataframe(
            frame(rows),
            APP,
            client=client,
            concurrency=concurrency,
            progress=False,
            journal=Path(tmp) / "runs.sqlite",
        )
        wall = time.monotonic() - t0
    stats = emu.stats
    per_run = stats["requests"] / rows
    failed = (result["lamina_status"] != "completed").sum()
    rate = rows / (wall / window)
    print(
        f"[3] 100 req/min, runs of ~30 s, time_factor {factor} (1 minute = {window:.0f} s, runs "
        f"{30 * factor:.1f} s), {rows} rows, concurrency {concurrency}: {rate:.1f} completed runs/min "
        f"vs bound "
        f"{100 / per_run:.1f}/min (100 ÷ {per_run:.2f} requests per run); failed rows {failed}; "
        f"429s received {stats['rate_limited']}"
    )
    emu.reset_stats()
    base_rows = 60
    base_wall, base_failed = polling_baseline(client, frame(base_rows), concurrency, 3.0 * factor)
    base_per_run = emu.stats["requests"] / base_rows
    print(
        f"    polling baseline (poll every 3 s scaled, {base_rows} rows): "
        f"{base_rows / (base_wall / window):.1f} "
        f"completed runs/min, {base_per_run:.1f} requests per run, failed rows {base_failed}, "
        f"429s received {emu.stats['rate_limited']}"
    )


def part4(emu: Emulator, client: Client, calls: int = 20) -> None:
    """Overhead of the sync facade: a 1-row frame whose row is already in the ledger (no HTTP for it)."""
    emu.configure(latency=0.0, rate_limit=None, time_factor=1.0)
    df = frame(1)
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Path(tmp) / "runs.sqlite"
        run_dataframe(df, APP, client=client, progress=False, journal=ledger)
        t0 = time.monotonic()
        for _ in range(calls):
            run_dataframe(df, APP, client=client, progress=False, journal=ledger)
        per_call = (time.monotonic() - t0) / calls
        t0 = time.monotonic()
        threads = []
        for _ in range(calls):
            import threading

            th = threading.Thread(target=lambda: asyncio.new_event_loop().close())
            th.start()
            threads.append(th)
            th.join()
        thread_cost = (time.monotonic() - t0) / calls
    try:
        import nest_asyncio

        async def inside() -> float:
            loop = asyncio.get_running_loop()
            nest_asyncio.apply(loop)
            t = time.monotonic()
            for _ in range(calls):
                loop.run_until_complete(asyncio.sleep(0))
            return (time.monotonic() - t) / calls

        nest = asyncio.run(inside())
        nest_text = f"nest_asyncio re-entry {nest * 1000:.3f} ms"
    except ImportError:
        nest_text = "nest_asyncio not installed"
    print(
        f"[4] sync entry point: {per_call * 1000:.1f} ms per ledger-only call in total; a worker thread "
        f"with its own loop costs {thread_cost * 1000:.2f} ms to start and stop; {nest_text}"
    )


def main() -> None:
    with (
        Emulator(latency=1.0, jitter=0.2, rate_limit=None) as emu,
        Client(api_key=emu.api_key, base_url=emu.base_url) as client,
    ):
        part1(emu, client)
        part2(emu)
        part3(emu, client)
        part4(emu, client)


if __name__ == "__main__":
    main()
