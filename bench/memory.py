"""Memory of a batch (issue 17): a 10,000-row frame must stay under 100 MiB peak RSS.

The emulator runs in its own process (latency 0, no rate limit); every figure comes from a fresh client
process, so nothing one measurement loads is counted in another.
1. Peak RSS of the whole client process (`ru_maxrss`) fanning out 10,000 rows (ledger on, concurrency
   64), its RSS right after `import pandas` and `from lamina_jupyter import run_dataframe`, and the
   heavy modules the batch loaded.
2. Bytes per row, from tracemalloc in processes running 1,000 and 10,000 rows (the difference ÷ 9,000,
   so fixed costs drop out): held per planned row after validation, held per finished row once the
   batch is over (all the job keeps for the frame), and the traced peak of the whole call per row.
3. Where the peak is reached: the process's RSS high-water mark after each step of the same call taken
   apart (imports, the input frame, planning, the batch, the result frame built on the batch's thread).
Run: .venv/bin/python bench/memory.py [rows] [--parts 1 2 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _shared import APP, emulator_process

GOAL_MIB = 100
HEAVY = ("ipywidgets", "IPython", "PIL", "cryptography", "traitlets", "comm", "dotenv")

RSS_CHILD = """
import json, resource, sys, time, uuid
import pandas as pd
from lamina_jupyter import Client, run_dataframe
after_imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
rows, journal, heavy = int(sys.argv[1]), sys.argv[2], sys.argv[3].split(",")
df = pd.DataFrame({"prompt": [f"{uuid.uuid4().hex[:8]} rss {i}" for i in range(rows)]})
t0 = time.monotonic()
with Client() as c:
    r = run_dataframe(df, sys.argv[4], client=c, concurrency=64, progress=False, journal=journal)
print(json.dumps({"imports": after_imports, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "done": int((r["lamina_status"] == "completed").sum()), "wall": time.monotonic() - t0,
                  "loaded": [m for m in heavy if m in sys.modules]}))
"""

# The same call taken apart (Job, LoopThread: what run_dataframe does) to read tracemalloc between steps.
TRACE_CHILD = """
import gc, json, sys, tracemalloc, uuid
import pandas as pd
from lamina_jupyter import Client
from lamina_jupyter.batch.drive import LoopThread
from lamina_jupyter.batch.job import Job
rows, journal, app = int(sys.argv[1]), sys.argv[2], sys.argv[3]
df = pd.DataFrame({"prompt": [f"{uuid.uuid4().hex[:8]} trace {i}" for i in range(rows)]})
with Client() as c:
    c.get_app(app)  # the first call of a process imports and connects: not a row's cost
    def held():
        gc.collect()
        return tracemalloc.get_traced_memory()[0]
    tracemalloc.start()
    start = held()
    job = Job(df, app, client=c, concurrency=64, progress=False, journal=journal)
    with LoopThread() as lt:
        lt.call(job.prepare(in_caller_loop=False))
        planned = held()
        lt.call(job.execute(False))
        lt.call(job.close())
    finished = held()
    result = job.frame()
    peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"planned": planned - start, "finished": finished - start, "peak": peak - start,
                  "done": int((result["lamina_status"] == "completed").sum())}))
"""


# The same call taken apart as drive.run_sync does it, reading the high-water mark between steps.
PHASES_CHILD = """
import json, resource, sys, uuid
def hwm():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
marks = {"start": hwm()}
import pandas as pd
from lamina_jupyter import Client
from lamina_jupyter.batch.drive import LoopThread
from lamina_jupyter.batch.job import Job
marks["imports"] = hwm()
rows, journal, app = int(sys.argv[1]), sys.argv[2], sys.argv[3]
df = pd.DataFrame({"prompt": [f"{uuid.uuid4().hex[:8]} phases {i}" for i in range(rows)]})
marks["input frame"] = hwm()
with Client() as c:
    job = Job(df, app, client=c, concurrency=64, progress=False, journal=journal)
    with LoopThread() as lt:
        lt.call(job.prepare(in_caller_loop=False))
        marks["planned"] = hwm()
        lt.call(job.execute(False))
        lt.call(job.close())
        marks["batch"] = hwm()
        async def frame():  # on the batch's thread, as run_dataframe builds it
            return job.frame()
        result = lt.call(frame())
        marks["result frame"] = hwm()
print(json.dumps(marks))
"""


def child(code: str, url: str, key: str, *args: str) -> dict[str, Any]:
    env = {**os.environ, "LAMINA_API_KEY": key, "LAMINA_BASE_URL": url}
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1])
    return dict(json.loads(out.stdout.splitlines()[-1]))


def peak_rss(url: str, key: str, rows: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        m = child(RSS_CHILD, url, key, str(rows), str(Path(tmp) / "runs.sqlite"), ",".join(HEAVY), APP)
    base, peak = m["imports"] / 1024, m["peak"] / 1024  # ru_maxrss is in KiB on Linux
    verdict = "under" if peak < GOAL_MIB else "OVER"
    print(f"[1] {rows:,}-row frame (ledger on, concurrency 64): peak RSS {peak:.1f} MiB, {verdict} the "
          f"{GOAL_MIB} MiB goal (margin {GOAL_MIB - peak:.1f} MiB); after imports {base:.1f} MiB, growth "
          f"{peak - base:.1f} MiB; {m['done']} completed in {m['wall']:.0f} s; heavy modules "
          f"loaded: {', '.join(m['loaded']) or 'none'}")


def per_row(url: str, key: str, small: int, large: int) -> None:
    figures = {}
    for rows in (small, large):
        with tempfile.TemporaryDirectory() as tmp:
            figures[rows] = child(TRACE_CHILD, url, key, str(rows), str(Path(tmp) / "runs.sqlite"), APP)
    span = large - small

    def each(name: str) -> float:
        return float(figures[large][name] - figures[small][name]) / span

    print(f"[2] tracemalloc, ({large:,} rows − {small:,} rows) ÷ {span:,}: {each('planned'):.0f} B per "
          f"planned row, {each('finished'):.0f} B per finished row, traced peak {each('peak'):.0f} B "
          f"per row (completed {figures[small]['done']}/{small}, {figures[large]['done']}/{large})")


def phases(url: str, key: str, rows: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        m = child(PHASES_CHILD, url, key, str(rows), str(Path(tmp) / "runs.sqlite"), APP)
    steps, previous = [], m.pop("start")
    for name, mark in m.items():
        steps.append(f"{name} {mark / 1024:.1f} (+{(mark - previous) / 1024:.1f})")
        previous = mark
    print(f"[3] peak RSS after each step, MiB: {'; '.join(steps)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("rows", nargs="?", type=int, default=10_000, help="rows of the batch (default 10000)")
    parser.add_argument("--parts", nargs="+", type=int, default=[1, 2, 3], choices=[1, 2, 3],
                        help="which figures (default all)")
    args = parser.parse_args()
    with emulator_process(latency=0.0) as (url, key):
        if 1 in args.parts:
            peak_rss(url, key, args.rows)
        if 2 in args.parts:
            per_row(url, key, args.rows // 10, args.rows)
        if 3 in args.parts:
            phases(url, key, args.rows)


if __name__ == "__main__":
    main()
