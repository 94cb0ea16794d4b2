"""The write-ahead ledger: states, file hygiene, corrupt and busy files, reconciliation of rows whose
start was interrupted, and a real SIGKILL mid-batch followed by a rerun that pays for nothing twice."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from suite import TEXT_TO_IMAGE

from lamina_jupyter import run_dataframe
from lamina_jupyter.batch.engine import MAX_STARTS, RECONCILE_SKEW
from lamina_jupyter.batch.ledger import BatchInUseError, Journal, JournalError

LEDGER = Path(".lamina") / "runs.sqlite"


def _db(path=LEDGER):
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    return conn


def test_ledger_records_terminal_rows_private_file_and_no_key(client, emulator, prompts):
    result = run_dataframe(prompts(6, fail_every=3), TEXT_TO_IMAGE, client=client, progress=False)
    with Journal(LEDGER) as j:
        assert j.states() == {"TERMINAL": 6}
    rows = _db().execute("SELECT run_id, status, outputs FROM attempts ORDER BY run_id").fetchall()
    assert sorted(r["run_id"] for r in rows) == sorted(result["lamina_run_id"])
    assert {r["status"] for r in rows} == {"completed", "failed"}
    for f in LEDGER.parent.glob("runs.sqlite*"):
        if f.is_file():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
            assert emulator.api_key.encode() not in f.read_bytes()


def test_journal_false_and_custom_path(client, prompts):
    run_dataframe(prompts(2), TEXT_TO_IMAGE, client=client, journal=False, progress=False)
    assert not LEDGER.exists()
    run_dataframe(prompts(2), TEXT_TO_IMAGE, client=client, journal="batches/mine.sqlite", progress=False)
    assert Path("batches/mine.sqlite").is_file() and not LEDGER.exists()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_ledger_is_a_clear_error_naming_the_file(client, emulator, prompts, damage):
    run_dataframe(prompts(3), TEXT_TO_IMAGE, client=client, progress=False)
    with Journal(LEDGER) as j:  # fold the WAL into the main file so truncation really cuts data
        j._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = LEDGER.read_bytes()
    LEDGER.write_bytes(b"not a database at all" * 100 if damage == "garbage" else data[: len(data) // 2])
    emulator.reset_stats()
    with pytest.raises(JournalError, match=str(LEDGER.absolute())) as info:
        run_dataframe(prompts(3), TEXT_TO_IMAGE, client=client, progress=False)
    assert "was not reset" in str(info.value)
    assert emulator.stats["runs_created"] == 0


def test_second_user_of_a_busy_batch_gets_batch_in_use(client, emulator, prompts):
    df = prompts(3)
    emulator.configure(hold=True)
    first: dict = {}
    worker = threading.Thread(
        target=lambda: first.setdefault("df", run_dataframe(df, TEXT_TO_IMAGE, client=client, progress=False))
    )
    emulator.reset_stats()
    worker.start()
    deadline = time.monotonic() + 10
    while emulator.stats["runs_created"] < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(BatchInUseError, match="in use"):
        run_dataframe(df, TEXT_TO_IMAGE, client=client, progress=False)
    emulator.configure(hold=False)
    worker.join(20)
    assert (first["df"]["lamina_status"] == "completed").all()
    assert emulator.stats["runs_created"] == 3


def _set_submitting(row_id: str, t0: float) -> None:
    with _db() as conn:
        conn.execute(
            "UPDATE attempts SET state='SUBMITTING', run_id=NULL, status=NULL, outputs=NULL, t0=? "
            "WHERE run_id=?",
            (t0, row_id),
        )


def test_interrupted_start_is_uncertain_then_adopted_only_when_asked(client, emulator, prompts):
    """Killed between sending the start and writing its answer: the run list shows one run of the app
    since then, but a teammate's start would look the same (lists carry no inputs). The row says so
    and names the run; retry_failed(adopt=True) follows it without paying again."""
    df = prompts(3)
    first = run_dataframe(df, TEXT_TO_IMAGE, client=client, progress=False)
    lost = first["lamina_run_id"].iloc[1]
    created = pd.Timestamp(client.get_run(lost).created_at).timestamp()
    _set_submitting(lost, created - 0.05)  # as if killed before the 202 was written
    emulator.reset_stats()
    again = run_dataframe(df, TEXT_TO_IMAGE, client=client, progress=False)
    assert again.lamina.report["uncertain"] == 1 and again.lamina.report["reused"] == 2
    assert list(again["lamina_status"]) == ["completed", "uncertain", "completed"]
    assert again["lamina_run_id"].iloc[1] == lost and lost in again["lamina_error"].iloc[1]
    assert "uncertain" in again.lamina.report and emulator.stats["runs_created"] == 0
    settled = again.lamina.retry_failed(adopt=True, progress=False)
    assert list(settled["lamina_run_id"]) == list(first["lamina_run_id"])
    assert (settled["lamina_status"] == "completed").all() and emulator.stats["runs_created"] == 0


def test_start_that_never_arrived_is_resubmitted_once(client, emulator, prompts):
    df = prompts(2)
    first = run_dataframe(df, TEXT_TO_IMAGE, client=client, progress=False)
    with _db() as conn:  # a new attempt whose POST never left: nothing exists after its t0
        conn.execute(
            "INSERT INTO attempts SELECT row_key, attempt + 1, batch_id, origin, app_id, index_label, "
            "fingerprint, inputs, 'SUBMITTING', ?, NULL, NULL, NULL, NULL, NULL, updated FROM attempts "
            "WHERE run_id=?",
            (time.time() + RECONCILE_SKEW + 1, first["lamina_run_id"].iloc[0]),
        )
    emulator.reset_stats()
    again = run_dataframe(df, TEXT_TO_IMAGE, client=client, progress=False)
    assert again.lamina.report["submitted"] == 1 and again.lamina.report["reused"] == 1
    assert emulator.stats["runs_created"] == 1
    assert (again["lamina_status"] == "completed").all()


KILLED_BATCH = """
import sys
import pandas as pd
from lamina_jupyter import Client, run_dataframe
tag = sys.argv[1]
df = pd.DataFrame({"prompt": [f"{tag} kill {i}" for i in range(40)]})
with Client() as client:
    run_dataframe(df, "TEXT_TO_IMAGE", client=client, journal="ledger.sqlite", concurrency=4, progress=False)
""".replace("TEXT_TO_IMAGE", TEXT_TO_IMAGE)


def test_sigkill_mid_batch_then_rerun_pays_nothing_twice(client, emulator, tmp_path):
    emulator.configure(latency=0.5, jitter=0.2)
    emulator.reset_stats()
    tag = os.urandom(4).hex()
    script = tmp_path / "batch.py"
    script.write_text(KILLED_BATCH)
    env = {**os.environ, "LAMINA_API_KEY": emulator.api_key, "LAMINA_BASE_URL": emulator.base_url}
    proc = subprocess.Popen([sys.executable, str(script), tag], env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while emulator.stats["runs_created"] < 14 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    killed_at = emulator.stats["runs_created"]
    assert 14 <= killed_at < 40
    df = pd.DataFrame({"prompt": [f"{tag} kill {i}" for i in range(40)]})
    result = run_dataframe(
        df, TEXT_TO_IMAGE, client=client, journal="ledger.sqlite", concurrency=8, progress=False
    )
    report = result.lamina.report
    # Starts overlap (at most MAX_STARTS): a row whose start was in flight at the kill may have a run
    # that nothing can tie to it (lists carry no inputs), so it says `uncertain` instead of guessing.
    uncertain = result["lamina_status"] == "uncertain"
    assert (result["lamina_status"][~uncertain] == "completed").all() and uncertain.sum() <= MAX_STARTS
    assert emulator.stats["duplicate_starts"] == 0 and emulator.stats["runs_created"] <= 40
    assert report["reused"] + report["reattached"] + report["reconciled"] + report["submitted"] == (
        40 - report["uncertain"])
    assert report["reattached"] + report["reconciled"] >= 1  # runs in flight at the kill were picked up
    assert report["submitted"] == emulator.stats["runs_created"] - killed_at
