"""A batch in its own process (a notebook kernel stand-in) for the kill and shared-ledger scenarios.

    python batch_worker.py <app_id> <column> <tag> <rows> <ledger> <concurrency>

Runs `rows` unique rows ("<tag> row <i>") through run_dataframe with the given ledger, prints one JSON
line {"report": ..., "statuses": ...}; a busy batch prints {"in_use": message} and exits 3. The key
and URL come from LAMINA_API_KEY / LAMINA_BASE_URL, as in a notebook.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from lamina_jupyter import Client, run_dataframe
from lamina_jupyter.batch.ledger import BatchInUseError
from lamina_jupyter.core.claims import RUNS
from lamina_jupyter.core.flows import CROWD_HORIZON


def rows(column: str, tag: str, n: int) -> pd.DataFrame:
    return pd.DataFrame({column: [f"{tag} row {i}" for i in range(n)]})


def main(app: str, column: str, tag: str, n: str, ledger: str, concurrency: str) -> int:
    with Client() as client:
        try:
            result = run_dataframe(
                rows(column, tag, int(n)),
                app,
                client=client,
                journal=ledger,
                concurrency=int(concurrency),
                progress=False,
            )
        except BatchInUseError as err:
            print(json.dumps({"in_use": str(err)}), flush=True)
            return 3
    print(json.dumps({"report": result.lamina.report, "statuses": list(result["lamina_status"])}), flush=True)
    return 0


# -- the test side ------------------------------------------------------------------------------------
def spawn(emulator: Any, cwd: Path, *args: Any) -> subprocess.Popen:
    env = {**os.environ, "LAMINA_API_KEY": emulator.api_key, "LAMINA_BASE_URL": emulator.base_url}
    return subprocess.Popen(
        [sys.executable, __file__, *map(str, args)], env=env, cwd=cwd, stdout=subprocess.PIPE, text=True
    )


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


# The text parameter of each sample app (suite ids), for frames that must use a given app.
TEXT_PARAM = {
    "3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a01": "Prompt",  # Text to Image
    "3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a03": "Product",  # Product Shot Set
    "3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a04": "Topic",  # Caption Writer
    "3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a05": "Prompt",  # Teaser Clip
}


def quiet_app(emulator: Any, window: float = CROWD_HORIZON + 1.0) -> str:
    """The sample app whose latest run made outside this process is oldest, once none is younger
    than `window` seconds.

    Settling a lost start reads the runs of the app from CROWD_HORIZON before it, and run summaries
    carry no inputs: a run another process (a killed-kernel worker, a teammate helper) made moments
    ago means someone else uses the app, and the row rightly ends uncertain. A user running one
    batch per app at a time never sees that; this gives each reconciling scenario the same quiet
    account. Runs this process made are spoken for (claims.RUNS) and never count.
    """
    latest = {app: 0.0 for app in TEXT_PARAM}
    for r in emulator.runs():
        if r["app_id"] in latest and r["run_id"] not in RUNS:
            stamp = pd.Timestamp(r["created_at"]).timestamp()
            latest[r["app_id"]] = max(latest[r["app_id"]], stamp)
    app = min(latest, key=latest.__getitem__)
    time.sleep(max(0.0, latest[app] + window - time.time()))
    return app


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:7]))
