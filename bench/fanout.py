"""DataFrame fan-out figures, measured in one run against the local emulator.

1. No rate limit, latency 1 s ± 20 %: wall time of 1,000 rows ÷ the physical limit
   (rows × mean latency ÷ concurrency): what the engine itself costs.
2. (moved: the memory of a 10,000-row batch is bench/memory.py)
3. Lamina's 100 requests/min limit with runs of 10-30 s, both scaled by time_factor so a batch takes
   seconds: completed runs per (scaled) minute against the bound the limit allows,
   N / (2N/100 + L/60) for N rows of mean length L s, and against the loop a competent user writes from
   the docs (start, then poll every 3 or 5 s, or /wait) at that user's best concurrency (2 to 16
   threads). It prints share of bound, speed-up over the best loop, and where the time beyond the
   bound goes (ramp-up, start phase, tail, finish), from the emulator's run timestamps. The docs do
   not say how the limit's window moves nor promise headers before a 429, so ours runs against a
   sliding and a fixed window, with RateLimit-* headers on 429s only and on every response.
   Compression is not free: the server's RateLimit-Reset and retryAfter are whole seconds, so below
   time_factor 0.1 that rounding alone costs several % of every window and makes each 429 cost 20+
   scaled seconds (the docs loops suffer most); 0.1 is the default for that reason.
4. The sync entry point's worker-thread overhead per call vs nest_asyncio (why batch/api.py uses a thread).
Run: .venv/bin/python bench/fanout.py                   # everything
     .venv/bin/python bench/fanout.py 3 --rows 50 150 1000 --time-factor 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from lamina_jupyter import Client, run_dataframe
from lamina_jupyter.emulator import Emulator

APP = "3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a01"  # Text to Image
LIMIT = 100  # requests per minute (Lamina's default)
MODES = ["sliding/on-429", "fixed/on-429", "sliding/always", "fixed/always"]  # window / header modes


def frame(n: int) -> pd.DataFrame:
    tag = uuid.uuid4().hex[:8]
    return pd.DataFrame({"prompt": [f"{tag} bench {i}" for i in range(n)]})


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


# -- 3. under the 100 requests/min limit: ours vs the loop a user writes from the docs ----------------
@dataclass
class Measure:
    label: str
    rows: int
    completed: int
    minutes: float  # scaled minutes from the call to its return
    accepted: int  # requests the server answered other than 429
    limited: int  # 429s
    runs: list[tuple[float, float | None]]  # per run: created, completed (server wall clock, seconds)

    @property
    def per_minute(self) -> float:
        return self.completed / self.minutes


def bound(rows: int, run_s: float) -> float:
    """Completed runs/min the limit allows: 2 requests per run (start + one wait) at 100/min, plus the
    last run's own length."""
    return rows / (2 * rows / LIMIT + run_s / 60)


def settle(emu: Emulator, factor: float) -> None:
    """One full window of silence, so a phase neither inherits nor leaves spent budget or a pause."""
    time.sleep(60 * factor + 0.2)
    emu.reset_stats()


def measured(emu: Emulator, label: str, rows: int, factor: float, go: Any) -> Measure:
    settle(emu, factor)
    t0 = time.time()
    completed = go()
    minutes = (time.time() - t0) / (60 * factor)
    stats = emu.stats
    runs = sorted((r.created, r.completed) for r in list(emu.state.store.order) if r.created >= t0)
    runs = [(c - t0, None if d is None else d - t0) for c, d in runs]
    return Measure(label, rows, completed, minutes, stats["requests"] - stats["rate_limited"],
                   stats["rate_limited"], runs)


def ours(emu: Emulator, client: Client, rows: int, factor: float, concurrency: int) -> Measure:
    def go() -> int:
        with tempfile.TemporaryDirectory() as tmp:
            result = run_dataframe(frame(rows), APP, client=client, concurrency=concurrency, progress=False,
                                   journal=Path(tmp) / "runs.sqlite")
        return int((result["lamina_status"] == "completed").sum())

    return measured(emu, f"run_dataframe(concurrency={concurrency})", rows, factor, go)


def docs_loop(emu: Emulator, rows: int, factor: float, workers: int, watch: str) -> Measure:
    """What a competent user writes from the docs: a thread pool that starts each run, then polls it
    every 3 or 5 s (scaled) or holds /wait. It gets this library's Client for free: 429s are honoured
    and retried, so the loop loses no row to the limit."""
    every = {"poll 3 s": 3.0, "poll 5 s": 5.0}.get(watch)

    def one(c: Client, prompt: str) -> bool:
        run = c.start(APP, {"Prompt": prompt})
        if every is None:
            return c.wait(run, timeout=3600).status == "completed"
        while not run.is_done:
            time.sleep(every * factor)
            run = c.get_run(run.id)
        return run.status == "completed"

    def go() -> int:
        with Client(api_key=emu.api_key, base_url=emu.base_url, wait_strategy="wait") as c, \
                ThreadPoolExecutor(workers) as pool:
            return sum(pool.map(lambda p: one(c, p), frame(rows)["prompt"]))

    return measured(emu, f"{watch}, {workers} threads", rows, factor, go)


def breakdown(m: Measure, factor: float, run_s: float) -> str:
    """Where the time beyond the bound goes, in scaled seconds: ramp-up (call to first start), the start
    phase (first to last start: starts go before watches, so with room for every row it is one request
    per row at the limit) against the time all accepted requests take at the limit, the tail (last
    start to last completion)
    against one run length, and the finish (last completion to the call's return). Ramp-up and finish
    are client work that time_factor does not shrink, so they are also shown in real seconds."""
    created = [c for c, _ in m.runs]
    ended = [d for _, d in m.runs if d is not None]
    scale = 1 / factor
    ramp, starts = created[0] * scale, (created[-1] - created[0]) * scale
    tail, finish = (max(ended) - created[-1]) * scale, (m.minutes * 60 * factor - max(ended)) * scale
    budget = m.accepted / LIMIT * 60
    gaps = sorted(b - a for a, b in zip(created, created[1:], strict=False))
    return (f"ramp-up {ramp:.1f} s ({ramp * factor:.2f} s real) · starts {starts:.0f} s (all requests "
            f"at the limit {budget:.0f} s, median gap {gaps[len(gaps) // 2] * scale:.2f} s vs "
            f"{60 / LIMIT:.2f}) · "
            f"tail {tail:.1f} s (mean run {run_s:.0f}) · finish {finish:.1f} s ({finish * factor:.2f} s real)"
            f"; requests accepted {m.accepted} ({m.accepted / m.rows:.2f} per row)")


def part3(emu: Emulator, client: Client, sizes: list[int], factor: float, modes: list[str],
          run_s: float = 20.0, concurrency: int = 32, baseline_rows: int = 150, loops: bool = True) -> None:
    def limit_as(mode: str) -> None:
        window, headers = mode.split("/")
        emu.configure(latency=run_s * factor, jitter=0.5, rate_limit=LIMIT, time_factor=factor,
                      failure_rate=0.0, rate_limit_window=window, rate_limit_headers=headers)

    limit_as(modes[0])
    print(f"[3] {LIMIT} requests/min, runs of {run_s * 0.5:.0f}-{run_s * 1.5:.0f} s (mean {run_s:.0f}), "
          f"time_factor {factor} (1 minute = {60 * factor:.1f} s); completed rows only; bound "
          f"N / (2N/{LIMIT} + L/60); docs loops under {modes[0]} (window/RateLimit-* headers)")
    base: list[Measure] = []
    for watch in ("poll 3 s", "poll 5 s", "/wait") if loops else ():
        for workers in (2, 4, 8, 16):
            n = min(baseline_rows, 10 * workers)  # ~10 runs per thread: ramp and tail stay small
            m = docs_loop(emu, n, factor, workers, watch)
            base.append(m)
            print(f"    docs loop, {m.label}, {n} rows: {m.per_minute:.1f} runs/min "
                  f"({m.per_minute / bound(n, run_s):.0%} of its bound {bound(n, run_s):.1f}), "
                  f"{m.accepted / n:.1f} requests per row, 429s {m.limited}, completed {m.completed}/{n}")
    best_share = None
    if base:
        best = max(base, key=lambda m: m.per_minute / bound(m.rows, run_s))
        best_share = best.per_minute / bound(best.rows, run_s)
        print(f"    best docs loop: {best.label}, {best.rows} rows: {best.per_minute:.1f}/min, "
              f"{best_share:.0%} of its bound")
    for mode in modes:
        limit_as(mode)
        for rows in sizes:
            m = ours(emu, client, rows, factor, concurrency)
            share = m.per_minute / bound(rows, run_s)
            # batch sizes differ, so shares of each size's bound are compared (equal to runs/min at equal N)
            print(f"    ours, {mode}, {m.label}, {rows} rows: {m.per_minute:.1f} completed runs/min, bound "
                  f"{bound(rows, run_s):.1f} → {share:.1%} of the bound; 429s {m.limited}; completed "
                  f"{m.completed}/{rows}"
                  + (f"; speed-up ×{share / best_share:.2f} over the best docs loop" if best_share else ""))
            print(f"      where the rest goes: {breakdown(m, factor, run_s)}")


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
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("parts", nargs="*", type=int, default=[1, 3, 4], help="which figures (1, 3, 4)")
    parser.add_argument("--rows", nargs="+", type=int, default=[50, 150, 1000], help="batch sizes for 3")
    parser.add_argument("--time-factor", type=float, default=0.1, help="1 minute = 60 × this, in s (see 3)")
    parser.add_argument("--run-seconds", type=float, default=20.0, help="mean run length (± 50 %%)")
    parser.add_argument("--no-docs-loops", action="store_true", help="3 without the baseline loops")
    parser.add_argument("--modes", nargs="+", default=MODES, choices=MODES,
                        help="server rate window / when RateLimit-* headers come, for 3 (first: docs loops)")
    args = parser.parse_args()
    with (
        Emulator(latency=1.0, jitter=0.2, rate_limit=None) as emu,
        Client(api_key=emu.api_key, base_url=emu.base_url) as client,
    ):
        if 1 in args.parts:
            part1(emu, client)
        if 3 in args.parts:
            part3(emu, client, args.rows, args.time_factor, args.modes, args.run_seconds,
                  loops=not args.no_docs_loops)
        if 4 in args.parts:
            part4(emu, client)


if __name__ == "__main__":
    main()
