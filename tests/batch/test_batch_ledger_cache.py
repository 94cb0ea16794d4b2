"""A ledger connection kept between calls (batch/ledger_cache.py): reused only while nothing but SQLite
touched the file, so a rerun skips the open and integrity check, and damage, a replaced file or a fork
never meet a stale connection. "Aged" ledgers stand for the usual case: a file last written minutes
ago, before the user runs the cell again."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from suite import TEXT_TO_IMAGE

from lamina_jupyter import run_dataframe
from lamina_jupyter.batch import ledger_cache
from lamina_jupyter.batch.ledger import Journal, JournalError


def _age(path: Path, seconds: float = 3600) -> None:
    """The ledger as it is when a cell is run again later: last written `seconds` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def _kept(path: Path):
    entry = ledger_cache._idle.get(os.path.realpath(path))
    return entry[0] if entry else None


def _kept_after(client, df: pd.DataFrame, ledger: Path):
    """`df` run into `ledger`, then the ledger aged and opened: the connection it keeps."""
    run_dataframe(df, TEXT_TO_IMAGE, client=client, journal=ledger, progress=False)
    _age(ledger)
    with Journal(ledger):
        pass
    kept = _kept(ledger)
    assert kept is not None
    return kept


@pytest.fixture(autouse=True)
def _no_kept_connections():
    ledger_cache.close_all()
    yield
    ledger_cache.close_all()


def test_a_rerun_of_an_aged_ledger_reuses_one_connection(client, emulator, prompts, tmp_path):
    ledger = tmp_path / "runs.sqlite"
    df = prompts(3)
    first = run_dataframe(df, TEXT_TO_IMAGE, client=client, journal=ledger, progress=False)
    _age(ledger)
    emulator.reset_stats()
    again = run_dataframe(df, TEXT_TO_IMAGE, client=client, journal=ledger, progress=False)
    kept = _kept(ledger)
    assert kept is not None
    third = run_dataframe(df, TEXT_TO_IMAGE, client=client, journal=ledger, progress=False)
    assert _kept(ledger) is kept  # the same connection served the third call and was put back
    assert emulator.stats["runs_created"] == 0
    for result in (again, third):
        pd.testing.assert_series_equal(result["lamina_run_id"], first["lamina_run_id"])


def test_a_freshly_written_ledger_is_not_kept(client, prompts, tmp_path):
    """Within a timestamp tick of the file's last change, a write after the put-back could leave the
    stamp as it was: such a connection is closed, not kept."""
    ledger = tmp_path / "runs.sqlite"
    with Journal(ledger) as journal:
        journal._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the file itself written just now
    assert _kept(ledger) is None
    _age(ledger)
    with Journal(ledger):
        pass
    assert _kept(ledger) is not None


def test_writes_through_another_connection_are_seen_by_a_kept_one(client, emulator, prompts, tmp_path):
    ledger = tmp_path / "runs.sqlite"
    df = prompts(2)
    kept = _kept_after(client, df, ledger)
    with Journal(ledger) as reader:
        assert reader._conn is kept
        with Journal(ledger) as writer:  # a second user at once gets its own connection
            assert writer._conn is not kept
            writer._conn.execute("UPDATE attempts SET state='PENDING', status=NULL")
        assert reader.states() == {"PENDING": 2}
    emulator.reset_stats()
    result = run_dataframe(df, TEXT_TO_IMAGE, client=client, journal=ledger, progress=False)
    assert emulator.stats["runs_created"] == 2  # the rows made PENDING were run, not reused
    assert (result["lamina_status"] == "completed").all()


@pytest.mark.parametrize("how", ["zero_bytes", "half", "header_garbage", "page_garbage"])
def test_damage_after_the_connection_was_kept_is_still_a_clear_error(how, client, emulator, tmp_path):
    ledger = tmp_path / "runs.sqlite"
    df = pd.DataFrame({"prompt": [f"{os.urandom(4).hex()} kept {i}" for i in range(40)]})
    run_dataframe(df, TEXT_TO_IMAGE, client=client, journal=ledger, progress=False)
    with Journal(ledger) as j:  # fold the log into the file so the damage cuts real data
        j._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    _age(ledger)
    with Journal(ledger):
        pass
    assert _kept(ledger) is not None  # the case that hurts: a connection that read the file intact
    data = ledger.read_bytes()
    assert len(data) > 12288
    ledger.write_bytes({
        "zero_bytes": b"",
        "half": data[: len(data) // 2],
        "header_garbage": b"\xff" * 100 + data[100:],
        "page_garbage": data[:8192] + bytes(range(256)) * 16 + data[12288:],
    }[how])
    emulator.reset_stats()
    with pytest.raises(JournalError, match="was not reset"):
        run_dataframe(df, TEXT_TO_IMAGE, client=client, journal=ledger, progress=False)
    assert emulator.stats["runs_created"] == 0


def test_a_ledger_deleted_while_kept_starts_afresh_in_a_new_file(client, emulator, prompts, tmp_path):
    ledger = tmp_path / "runs.sqlite"
    df = prompts(2)
    _kept_after(client, df, ledger)
    for f in tmp_path.glob("runs.sqlite*"):
        if f.is_file():
            f.unlink()
    emulator.reset_stats()
    result = run_dataframe(df, TEXT_TO_IMAGE, client=client, journal=ledger, progress=False)
    assert emulator.stats["runs_created"] == 2 and (result["lamina_status"] == "completed").all()
    with Journal(ledger) as j:
        assert j.states() == {"TERMINAL": 2}  # written to the new file, not the deleted one


def test_no_kept_connection_crosses_a_fork(tmp_path):
    """SQLite's locks are per process: a child beside its parent's open connection would take none,
    so the parent closes what it keeps before forking (the attack is in test_batch_cache_attacks)."""
    ledger = tmp_path / "runs.sqlite"
    Journal(ledger).close()
    _age(ledger)
    with Journal(ledger):
        pass
    assert _kept(ledger) is not None
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code, never return into pytest
        code = 1
        try:
            code = 2 if ledger_cache._idle else 0
            with Journal(ledger) as j:
                code = code or (0 if j.states() == {} else 3)
        finally:
            os._exit(code)
    assert os.waitpid(pid, 0)[1] == 0
    assert _kept(ledger) is None


def test_kept_connections_are_closed_at_exit_and_the_log_folded_in(tmp_path):
    ledger = tmp_path / "runs.sqlite"
    script = (
        "import os, sys, time\n"
        "from lamina_jupyter.batch.ledger import Journal\n"
        "from lamina_jupyter.batch import ledger_cache\n"
        "path = sys.argv[1]\n"
        "Journal(path).close()\n"
        "then = time.time() - 3600; os.utime(path, (then, then))\n"
        "with Journal(path) as j:\n"
        "    j._conn.execute(\"INSERT INTO meta VALUES ('note', 'kept')\")\n"
        "os.utime(path, (then, then))\n"
        "with Journal(path): pass\n"
        "assert ledger_cache._idle, 'not kept'\n"
    )
    subprocess.run([sys.executable, "-c", script, str(ledger)], check=True, cwd=Path.cwd())
    assert not Path(f"{ledger}-wal").exists()  # closed at exit: SQLite removed the log
    with Journal(ledger) as j:
        assert j._conn.execute("SELECT v FROM meta WHERE k='note'").fetchone()[0] == "kept"


def test_at_most_max_kept_ledgers_stay_open(tmp_path):
    paths = [tmp_path / f"l{i}.sqlite" for i in range(ledger_cache.MAX_KEPT + 2)]
    for path in paths:
        Journal(path).close()
        _age(path)
        with Journal(path):
            pass
    assert len(ledger_cache._idle) == ledger_cache.MAX_KEPT
    assert _kept(paths[0]) is None and _kept(paths[-1]) is not None  # the least recently used went
