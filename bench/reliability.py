"""Run the fault matrix (tests/reliability) and print its one-line summary, plus the JSON path.

    python bench/reliability.py            # or: make reliability
    python bench/reliability.py DIR        # another matrix directory (the matrix's own test uses this)

The figures come from the scenarios themselves (tests/reliability/conftest.py): each is recorded when it
starts, and counts as survived only when its test passed. Exits 1 when anything did not survive (a
scenario, a fault, a counter that must stay zero) or pytest failed, so CI cannot print a bad line green.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(matrix: str = "tests/reliability") -> int:
    out = Path(os.environ.get("LAMINA_BENCH_OUTPUT", ROOT / "bench-output"))
    out.mkdir(exist_ok=True)
    report = out / "reliability.json"
    report.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "pytest", "-q", "--no-header", "-p", "no:cacheprovider", matrix]
    env = {**os.environ, "LAMINA_RELIABILITY_REPORT": str(report)}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if not report.exists():
        sys.stdout.write(done.stdout[-4000:] + done.stderr[-2000:])
        print("reliability: the matrix did not produce a report (see pytest output above)")
        return 1
    data = json.loads(report.read_text())
    print(data["summary"])
    for name in data["not_survived"]:
        print(f"  not survived: {name}")
    for miss in data["misses"]:
        print(f"  miss: {miss}")
    print(f"  details: {report}")
    if done.returncode and not data["misses"]:
        print(f"  pytest exited {done.returncode} outside the scenarios (collection or session error)")
    return 1 if data["misses"] or done.returncode else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
