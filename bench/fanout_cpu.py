"""The fan-out's own CPU, against plain httpx making the same requests (emulator in another process).

1. A 1-row frame whose row is already finished in the ledger: CPU per call and requests per call,
   against one `Client.get_run` (goal: no request, <= 5x the get_run).
2. `run_dataframe` over ROWS rows (default 1,000), concurrency 16, ledger on and off: client CPU
   per row against plain httpx doing start + event stream per run (goal: ledger on <= 2x).
CPU is `time.process_time()` of this process (all threads), so the emulator's work is not counted.
Run: .venv/bin/python bench/fanout_cpu.py [rows]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pandas as pd
from _shared import APP, PlainHttpx, cpu, emulator_process, emulator_stats

from lamina_jupyter import Client, run_dataframe


def prompts(n: int) -> list[str]:
    tag = uuid.uuid4().hex[:8]
    return [f"{tag} cpu bench {i}" for i in range(n)]


async def plain_fanout(url: str, key: str, batch: list[str], concurrency: int) -> None:
    http = PlainHttpx(url, key, pool=concurrency)
    try:
        await http.runs(batch, "stream")
    finally:
        await http.aclose()


def ledgered_rerun(client: Client, url: str, key: str, ledger: Path, calls: int = 15) -> None:
    df = pd.DataFrame({"prompt": prompts(1)})
    first = run_dataframe(df, APP, client=client, progress=False, journal=ledger)
    run_id = first["lamina_run_id"].iloc[0]
    emulator_stats(url, key, reset=True)
    rerun = [cpu(lambda: run_dataframe(df, APP, client=client, progress=False, journal=ledger))[0]
             for _ in range(calls)]
    requests = emulator_stats(url, key)["requests"] / calls
    get_run = [cpu(lambda: client.get_run(run_id))[0] for _ in range(50)]
    a, b = statistics.median(rerun), statistics.median(get_run)
    print(f"[1] 1-row frame already in the ledger: {1000 * a:.2f} ms CPU/call, {requests:.1f} requests/call; "
          f"one get_run {1000 * b:.2f} ms -> {a / b:.1f}x (goal <= 5x, 0 requests)")


def fanout(client: Client, url: str, key: str, rows: int, concurrency: int = 16) -> None:
    figures = {}
    with tempfile.TemporaryDirectory(dir=".") as tmp:  # on the disk a notebook's ledger uses, not tmpfs
        for label, journal in (("ledger on", Path(tmp) / "runs.sqlite"), ("ledger off", False)):
            df = pd.DataFrame({"prompt": prompts(rows)})
            t0 = time.monotonic()
            seconds, result = cpu(lambda df=df, journal=journal: run_dataframe(
                df, APP, client=client, concurrency=concurrency, progress=False, journal=journal))
            assert (result["lamina_status"] == "completed").all()
            figures[label] = (seconds / rows, time.monotonic() - t0)
    t0 = time.monotonic()
    seconds, _ = cpu(lambda: asyncio.run(plain_fanout(url, key, prompts(rows), concurrency)))
    figures["plain httpx"] = (seconds / rows, time.monotonic() - t0)
    base = figures["plain httpx"][0]
    print(f"[2] run_dataframe, {rows} rows, concurrency {concurrency}, start + event stream per run:")
    for label, (per_row, wall) in figures.items():
        print(f"    {label:<12}{1000 * per_row:>7.2f} ms CPU/row  {per_row / base:>5.2f}x plain httpx  "
              f"wall {wall:.1f} s")
    print("    (goal: ledger on <= 2x)")


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with emulator_process() as (url, key), Client(api_key=key, base_url=url) as client, \
            tempfile.TemporaryDirectory() as tmp:
        client.get_app(APP)  # warm: the first call of a process imports and connects
        ledgered_rerun(client, url, key, Path(tmp) / "runs.sqlite")
        fanout(client, url, key, rows)


if __name__ == "__main__":
    main()
