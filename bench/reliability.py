"""Run the fault matrix (tests/reliability) and print its one-line summary, plus the JSON path.

    python bench/reliability.py            # or: make reliability

The figures come from the scenarios themselves (tests/reliability/conftest.py): each records the
faults it injected and what it proved; a scenario counts as survived only when its test passed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    out = ROOT / "bench-output"
    out.mkdir(exist_ok=True)
    report = out / "reliability.json"
    report.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "pytest", "-q", "--no-header", "-p", "no:cacheprovider", "tests/reliability"]
    env = {**os.environ, "LAMINA_RELIABILITY_REPORT": str(report)}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if not report.exists():
        sys.stdout.write(done.stdout[-4000:] + done.stderr[-2000:])
        print("reliability: the matrix did not produce a report (see pytest output above)")
        return 1
    data = json.loads(report.read_text())
    failed = [s["scenario"] for s in data["scenarios"] if not s["passed"]]
    print(data["summary"])
    for name in failed:
        print(f"  not survived: {name}")
    print(f"  details: {report.relative_to(ROOT)}")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
