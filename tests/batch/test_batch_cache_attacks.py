"""Attacks on the ledger connection kept between calls (batch/ledger_cache.py): what a user or the OS
does to the ledger while a kernel keeps its connection must never make a rerun pay twice, lose a row
or hide damage. Found by an adversary review while a call that wrote rows could be kept with them in
its -wal; each failed then. The set-up now: a call with new rows, then a rerun of them later."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import time
from pathlib import Path

import pandas as pd
import pytest
from suite import TEXT_TO_IMAGE

from lamina_jupyter import run_dataframe
from lamina_jupyter.batch import ledger_cache
from lamina_jupyter.batch.drive import release_spare
from lamina_jupyter.batch.ledger import Journal, JournalError


def _age(path: Path, seconds: float = 3600) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


@pytest.fixture(autouse=True)
def _nothing_kept():
    ledger_cache.close_all()
    release_spare()
    yield
    ledger_cache.close_all()
    release_spare()


def _run(df: pd.DataFrame, client, journal) -> pd.DataFrame:
    return run_dataframe(df, TEXT_TO_IMAGE, client=client, journal=journal, progress=False)


def _kept(path: Path) -> bool:
    return os.path.realpath(path) in ledger_cache._idle


def _kept_call(client, prompts, ledger: Path, rows: int = 3, target: Path | None = None) -> pd.DataFrame:
    """A call with new rows, then the same rows again later (the ledger aged): the connection is kept
    after the rerun, not after the call that wrote, whose rows SQLite logged in the -wal."""
    _run(prompts(1), client, ledger)
    df = prompts(rows)
    assert (_run(df, client, ledger)["lamina_status"] == "completed").all()
    assert not _kept(ledger)  # its log held the new rows: closed, so the file holds them all
    _age(target or ledger)
    assert (_run(df, client, ledger)["lamina_status"] == "completed").all()
    assert _kept(ledger)
    return df


@pytest.mark.parametrize("how", ["rename", "copy"])
def test_a_ledger_renamed_or_copied_between_calls_holds_its_rows(how, client, emulator, prompts, tmp_path):
    """Before the connection was kept, every call folded its log into the file: `mv runs.sqlite
    other.sqlite` (or the `mv ... .bad` the ledger's own errors advise) and a copy took every row."""
    ledger, other = tmp_path / "runs.sqlite", tmp_path / "other.sqlite"
    df = _kept_call(client, prompts, ledger)
    (os.rename if how == "rename" else shutil.copy2)(ledger, other)
    emulator.reset_stats()
    again = _run(df, client, other)
    assert emulator.stats["runs_created"] == 0  # paid for in the first call
    assert (again["lamina_status"] == "completed").all()


def test_an_emptied_log_is_an_error_not_a_fresh_start(client, emulator, prompts, tmp_path):
    """The -wal now lives between calls, holding the only copy of the last call's rows: emptied (a
    sync tool, a full disk, `: > file`), the rows must not silently vanish and be paid again."""
    ledger = tmp_path / "runs.sqlite"
    df = _kept_call(client, prompts, ledger)
    Path(f"{ledger}-wal").write_bytes(b"")
    emulator.reset_stats()
    try:
        again = _run(df, client, ledger)
    except JournalError as exc:
        assert "was not reset" in str(exc)
    else:
        assert (again["lamina_status"] == "completed").all()
    assert emulator.stats["runs_created"] == 0


def _after_log_damage(client, emulator, prompts, folder: Path, via_link: bool) -> str:
    """What a rerun makes of garbage over the ledger's -wal's last page (the newest copy of a page)."""
    real = folder / "store" / "runs.sqlite"
    real.parent.mkdir(parents=True)
    real.touch()
    ledger = folder / "runs.sqlite"
    if via_link:
        ledger.symlink_to(real)
    else:
        ledger = real
    df = _kept_call(client, prompts, ledger, rows=40, target=real)
    log = Path(f"{real}-wal")
    data = log.read_bytes() if log.exists() else b""
    log.write_bytes(data[:-4096] + bytes(range(256)) * 16)
    emulator.reset_stats()
    try:
        _run(df, client, ledger)
    except JournalError as exc:
        return f"JournalError, reset: {'was not reset' not in str(exc)}"
    return f"ran, runs paid again: {emulator.stats['runs_created']}"


def test_damage_to_a_symlinked_ledgers_log_is_reported_as_through_its_real_path(
        client, emulator, prompts, tmp_path):
    """SQLite puts the log beside the symlink's target, but the stamp watches `<link>-wal`, which never
    exists: damage the real path reports is answered from the kept connection's cache through the link."""
    real = _after_log_damage(client, emulator, prompts, tmp_path / "real", via_link=False)
    ledger_cache.close_all()
    linked = _after_log_damage(client, emulator, prompts, tmp_path / "linked", via_link=True)
    assert linked == real


def _wait_for(condition, what: str, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_rows_a_forked_child_writes_survive_the_parents_next_call(client, emulator, prompts, tmp_path):
    """A child forked while the parent keeps a connection (multiprocessing's default on Linux) inherits
    SQLite's per-file lock bookkeeping: its own connection takes no real lock, so the parent's next call
    folds and deletes the log the child is still writing to."""
    ledger = tmp_path / "runs.sqlite"
    mine = _kept_call(client, prompts, ledger, rows=1)
    theirs = prompts(3)
    emulator.configure(hold=True)  # the child's runs stay running until the parent has rerun
    pid = os.fork()
    if pid == 0:  # the child: one fan-out on the same ledger, reported through the exit code
        code = 1
        try:
            signal.alarm(60)
            code = 0 if (_run(theirs, client, ledger)["lamina_status"] == "completed").all() else 2
        finally:
            os._exit(code)
    try:
        mine_runs = {r["run_id"] for r in emulator.runs()}
        _wait_for(lambda: len({r["run_id"] for r in emulator.runs()} - mine_runs) >= 3, "the child's runs")
        emulator.reset_stats()
        assert (_run(mine, client, ledger)["lamina_status"] == "completed").all()  # answered by the ledger
        assert emulator.stats["runs_created"] == 0
    finally:
        emulator.configure(hold=False)
        assert os.waitpid(pid, 0)[1] == 0
    with Journal(ledger) as j:
        assert j.states() == {"TERMINAL": 5}  # the parent's 2 rows and the child's 3, all finished
    emulator.reset_stats()
    assert (_run(theirs, client, ledger)["lamina_status"] == "completed").all()
    assert emulator.stats["runs_created"] == 0


def test_a_journal_closed_twice_leaves_the_next_call_working(client, emulator, prompts, tmp_path):
    """The second close() closed the connection the first had kept; while another connection holds the
    log open (sqlite3 looking at the ledger) the stamp is unchanged and the closed one is handed out."""
    ledger = tmp_path / "runs.sqlite"
    df = _kept_call(client, prompts, ledger)
    reader = sqlite3.connect(ledger)
    try:
        assert reader.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 4
        journal = Journal(ledger)
        journal.close()
        journal.close()
        emulator.reset_stats()
        again = _run(df, client, ledger)
    finally:
        reader.close()
    assert (again["lamina_status"] == "completed").all()
    assert emulator.stats["runs_created"] == 0
