"""The fan-out's own CPU, against plain httpx making the same requests (emulator in another process).

1. A 1-row frame whose row is already finished in the ledger: CPU per call and requests per call,
   against one `Client.get_run` (goal: no request, <= 5x the get_run), in a new ledger and in one
   holding 10,000 rows of earlier batches.
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
from lamina_jupyter.batch.ledger import Journal, produced
from lamina_jupyter.batch.ledger_cache import STAMP_TICK, close_all


def prompts(n: int) -> list[str]:
    tag = uuid.uuid4().hex[:8]
    return [f"{tag} cpu bench {i}" for i in range(n)]


async def plain_fanout(url: str, key: str, batch: list[str], concurrency: int) -> None:
    http = PlainHttpx(url, key, pool=concurrency)
    try:
        await http.runs(batch, "stream")
    finally:
        await http.aclose()


def crowd_ledger(ledger: Path, rows: int = 10_000) -> None:
    """A ledger that earlier batches filled: `rows` finished rows of another batch."""
    with Journal(ledger) as j:
        keys = [uuid.uuid4().hex for _ in range(rows)]
        j.add_pending((k, 1, "earlier", "http://127.0.0.1", "app", repr(i), k, f'{{"prompt": "{k}"}}')
                      for i, k in enumerate(keys))
        for k in keys:
            j.submitted(k, 1, k)
            done = [produced("Image", f"http://127.0.0.1/media/{k}.png", "completed", type="image")]
            j.terminal(k, 1, "completed", done, None, 20.0)


def ledgered_rerun(client: Client, url: str, key: str, ledger: Path, calls: int = 40,
                   label: str = "") -> None:
    """A user runs the cell, then again in a new kernel a while later: the first call of the kernel
    opens the ledger (measured 7 times, nothing kept before each), and as it writes nothing and the
    file is older than ledger_cache.STAMP_TICK, the calls after it take the connection it kept."""
    df = pd.DataFrame({"prompt": prompts(1)})
    first = run_dataframe(df, APP, client=client, progress=False, journal=ledger)
    run_id = first["lamina_run_id"].iloc[0]
    time.sleep(STAMP_TICK + 0.5)
    emulator_stats(url, key, reset=True)
    opening = []  # the first call of a kernel: nothing kept, the ledger opened and checked
    for _ in range(7):
        close_all()
        opening.append(cpu(lambda: run_dataframe(df, APP, client=client, progress=False, journal=ledger))[0])
    rerun, get_run = [], []
    for _ in range(calls):  # interleaved, so a change in the machine's load hits both sides alike
        rerun.append(cpu(lambda: run_dataframe(df, APP, client=client, progress=False, journal=ledger))[0])
        get_run.extend(cpu(lambda: client.get_run(run_id))[0] for _ in range(3))
    requests = (emulator_stats(url, key)["requests"] - 3 * calls) / (calls + len(opening))
    a, b, opened = statistics.median(rerun), statistics.median(get_run), statistics.median(opening)
    print(f"[1] 1-row frame already in the ledger{label}: {1000 * a:.2f} ms CPU/call, {requests:.1f} "
          f"requests/call; one get_run {1000 * b:.2f} ms -> {a / b:.1f}x (goal <= 5x, 0 requests); "
          f"the first call of a kernel, which opens the ledger: {1000 * opened:.2f} ms ({opened / b:.1f}x)")


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
            tempfile.TemporaryDirectory(dir=".") as tmp:  # the disk a notebook's ledger is on
        client.get_app(APP)  # warm: the first call of a process imports and connects
        ledgered_rerun(client, url, key, Path(tmp) / "runs.sqlite", label=" (a new ledger)")
        crowd_ledger(Path(tmp) / "crowded.sqlite")
        ledgered_rerun(client, url, key, Path(tmp) / "crowded.sqlite", label=" (10,000 other rows in it)")
        fanout(client, url, key, rows)


if __name__ == "__main__":
    main()
