"""A batch resumed in a new kernel is not a crowd of strangers to itself (issue 11, part 1: our own run
must still be adopted when the app is quiet).

The client's rule (flows._reconcile) counts every listed run that claims.RUNS does not hold as
someone else's; a new kernel's RUNS starts empty, so the engine hands it the ledger's recent runs
(LEDGER_HORIZON) before any start. Found by an adversary review: the resumed row ended uncertain.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
from suite import CAPTION_WRITER
from teammates import private_emulator

from lamina_jupyter import Client, run_dataframe

START = "POST /v1/apps/*/runs"
WORKER = Path(__file__).parents[1] / "reliability" / "batch_worker.py"
LEDGER = Path(".lamina") / "runs.sqlite"


def test_a_batch_resumed_in_a_new_kernel_adopts_its_lost_row_in_a_quiet_app():
    """Kernel 1 runs three rows and stops; kernel 2 (this process, the server's clock known from a
    start of its own) reruns them with a fourth row whose answer is lost after the server made the
    run. Only this batch uses the app, and the ledger names every other run: the row is its own."""
    tag = uuid.uuid4().hex[:6]
    frame = pd.DataFrame({"Topic": [f"{tag} row {i}" for i in range(4)]})
    with private_emulator() as emu, Client(api_key=emu.api_key, base_url=emu.base_url) as c:
        env = {**os.environ, "LAMINA_API_KEY": emu.api_key, "LAMINA_BASE_URL": emu.base_url}
        args = [sys.executable, str(WORKER), CAPTION_WRITER, "Topic", tag, "3", str(LEDGER), "2"]
        kernel_1 = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=True)
        assert '"statuses": ["completed", "completed", "completed"]' in kernel_1.stdout
        c.start(CAPTION_WRITER, {"Topic": "warm-up"})  # kernel 2 knows the server's clock
        emu.inject("accept_then_drop", route=START)
        result = run_dataframe(frame, CAPTION_WRITER, client=c, journal=str(LEDGER), progress=False)
        made = {r["run_id"]: r["inputs"] for r in emu.runs()}
    assert result.lamina.report["reused"] == 3
    assert list(result["lamina_status"]) == ["completed"] * 4, result["lamina_error"].iloc[-1]
    assert made[result["lamina_run_id"].iloc[-1]] == {"Topic": f"{tag} row 3"}
