"""The durable run ledger: what a DataFrame fan-out submitted, so that a rerun never pays twice.

One SQLite file (WAL, mode 0600, default `.lamina/runs.sqlite` beside the notebook) holds one record
per row attempt. Each transition is its own committed transaction:

    PENDING → SUBMITTING (t0, committed BEFORE the POST leaves) → SUBMITTED (run_id, the moment the
    202 arrives) → TERMINAL (completed / failed / cancelled / error, with outputs) or UNKNOWN

A rerun (same cell, after an interrupt, a kernel restart or a kill) reuses TERMINAL rows, re-attaches
to SUBMITTED runs and reconciles SUBMITTING rows through the run list before anything is submitted.
Rows are keyed by server origin, app, normalised inputs and index label (plus an ordinal for
repeated labels), so two identical rows are two rows. The API key is never written here.

A batch is claimed with an OS file lock (released by the OS even when the process is SIGKILLed), so
a second process on the same batch gets BatchInUseError instead of paying for the same rows.
A closed Journal's connection is kept for the next one on the same file (ledger_cache.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from ..core.errors import LaminaError
from . import ledger_cache
from .filelock import BatchLock

DEFAULT_PATH = Path(".lamina") / "runs.sqlite"
SCHEMA_VERSION = "1"
BUSY_SECONDS = 10.0  # how long opening waits for another process that holds the ledger's write lock
PENDING, SUBMITTING, SUBMITTED = "PENDING", "SUBMITTING", "SUBMITTED"
TERMINAL, UNKNOWN = "TERMINAL", "UNKNOWN"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS attempts (
    row_key TEXT NOT NULL, attempt INTEGER NOT NULL, batch_id TEXT NOT NULL, origin TEXT NOT NULL,
    app_id TEXT NOT NULL, index_label TEXT, fingerprint TEXT NOT NULL, inputs TEXT NOT NULL,
    state TEXT NOT NULL, t0 REAL, run_id TEXT, status TEXT, outputs TEXT, error TEXT, seconds REAL,
    updated REAL NOT NULL, PRIMARY KEY (row_key, attempt));
CREATE INDEX IF NOT EXISTS attempts_run ON attempts (run_id);
CREATE TABLE IF NOT EXISTS versions (run_id TEXT NOT NULL, number INTEGER NOT NULL, version TEXT NOT NULL,
    PRIMARY KEY (run_id, number));
"""


def _keep_advice(path: Path, not_done: str) -> str:
    """What to do with a ledger we refuse to use: it is never silently replaced (rows were paid for)."""
    return (f"It records which runs were already paid for, so it was not {not_done}. Move it aside "
            f"(mv '{path}' '{path}.bad') to start a fresh ledger, pass journal='another.sqlite', or "
            "journal=False to run without one.")


class JournalError(LaminaError):
    """The run ledger cannot be used (corrupt, unreadable); the message names the file."""


class BatchInUseError(JournalError):
    """Another process (or another cell still running) is working on the same batch."""


def canonical(inputs: Any) -> str:
    return json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def fingerprint(app_id: str, inputs: Any) -> str:
    return hashlib.sha256(f"{app_id}\n{canonical(inputs)}".encode()).hexdigest()


def row_key(origin: str, fingerprint: str, index_label: Any, ordinal: int) -> str:
    """Identity of one row: server, app and inputs (the fingerprint), index label and which repeat of
    that label it is."""
    text = f"{origin}\n{fingerprint}\n{index_label!r}\n{ordinal}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class Produced(NamedTuple):
    """One output of a finished row, as the result frame and the ledger need it. A tuple, not the
    run body's dict: a 10,000-row batch holds one per output (issue 17); the ledger stores `_asdict()`."""

    label: Any
    value: Any
    status: Any
    error: Any = None
    type: Any = None
    mime_type: Any = None


_WORDS: dict[str, str] = {}
MAX_WORDS = 1024


def word(text: Any) -> Any:
    """Labels, statuses and types repeat on every row: one shared string each, not one per row (a
    server sending new words on every row fills MAX_WORDS and then gets no sharing, nothing worse)."""
    if type(text) is not str:
        return text
    shared = _WORDS.get(text)
    if shared is None and len(_WORDS) < MAX_WORDS:
        shared = _WORDS[text] = text
    return shared or text


def produced(label: Any, value: Any, status: Any, error: Any = None, type: Any = None,
             mime_type: Any = None) -> Produced:
    return Produced(word(label), value, word(status), error, word(type), word(mime_type))


def outputs_json(outputs: Sequence[Produced]) -> str:
    return json.dumps([o._asdict() for o in outputs])


@dataclass(frozen=True, slots=True)
class Attempt:
    row_key: str
    attempt: int
    state: str
    t0: float | None
    run_id: str | None
    status: str | None
    outputs: tuple[Produced, ...] | None
    error: str | None
    seconds: float | None

    @classmethod
    def from_row(cls, r: sqlite3.Row) -> Attempt:
        """Raises ValueError when the row's outputs are not what `terminal()` writes."""
        return cls(r["row_key"], r["attempt"], r["state"], r["t0"], r["run_id"], r["status"],
                   _outputs(r["outputs"]) if r["outputs"] else None, r["error"], r["seconds"])


def _outputs(text: str) -> tuple[Produced, ...]:
    """A recorded outputs column: a JSON list of objects, or ValueError saying what it is instead."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError("its outputs are nested too deeply to read") from None
    except (TypeError, ValueError):
        raise ValueError("its outputs are not JSON") from None
    if not isinstance(value, list) or not all(isinstance(o, dict) for o in value):
        raise ValueError("its outputs are not a list of objects")
    return tuple(_produced(o) for o in value)


def _produced(o: Mapping[str, Any]) -> Produced:
    return produced(o.get("label"), o.get("value"), o.get("status"), o.get("error"), o.get("type"),
                    o.get("mime_type"))


class Journal:
    """One open ledger file. Use from one thread at a time (the fan-out's event loop)."""

    def __init__(self, path: str | os.PathLike[str] = DEFAULT_PATH) -> None:
        self.path = Path(path).absolute()
        self._locks: dict[str, BatchLock] = {}
        self._closed = False
        try:
            self._conn = ledger_cache.take(self.path) or self._open_when_free()
        except sqlite3.DatabaseError as exc:
            raise JournalError(
                f"The run ledger {self.path} is unreadable or corrupt ({exc}). "
                + _keep_advice(self.path, "reset")) from None

    def _open_when_free(self) -> sqlite3.Connection:
        """Another process opening or writing the same ledger (switching a new file to WAL takes an
        exclusive lock that SQLite's busy timeout does not wait for) is "busy", not "corrupt"."""
        start = time.monotonic()
        while True:
            try:
                return self._open()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                waited = time.monotonic() - start
                if waited > BUSY_SECONDS:
                    raise JournalError(
                        f"The run ledger {self.path} stayed locked by another process for {waited:.0f} s "
                        f"({exc}). Wait for it, or pass journal='another.sqlite'.") from None
                time.sleep(0.05)

    def _lock_dir(self) -> Path:
        return self.path.parent / (self.path.name + ".locks")

    def _refuse_emptied(self) -> None:
        """SQLite opens a 0-byte file as a new, empty ledger. When batches have used this one (it has
        a lock folder or a write-ahead log), 0 bytes means it was truncated: starting afresh would
        pay for every recorded row again."""
        wal = Path(f"{self.path}-wal")
        try:
            emptied = self.path.stat().st_size == 0
        except FileNotFoundError:
            return
        if emptied and (self._lock_dir().is_dir() or (wal.exists() and wal.stat().st_size > 0)):
            raise sqlite3.DatabaseError("the file is empty (0 bytes) although batches were recorded in it: "
                                        "it was truncated")

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._refuse_emptied()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)  # created 0600; -wal/-shm inherit it
        os.close(fd)
        if os.name != "nt":
            os.chmod(self.path, 0o600)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
        conn.row_factory = sqlite3.Row
        try:
            if conn.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal":
                raise sqlite3.DatabaseError("could not switch to WAL mode")
            # A committed SUBMITTING must survive a killed process, which WAL + NORMAL guarantees
            # without an fsync per commit (FULL cost 3 per row on the loop); a power loss may drop
            # the last commits (docs/design-notes.md, "The ledger's durability").
            conn.execute("PRAGMA synchronous=NORMAL")
            # 512 KiB of page cache, not 2 MiB: a row's writes touch a few pages by primary key, and the
            # file's pages stay in the OS cache (10,000 rows: +3 us CPU per row, 1.8 MiB less RSS)
            conn.execute("PRAGMA cache_size=-512")
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"integrity check: {check}")
            conn.executescript(_SCHEMA)
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            version = conn.execute("SELECT v FROM meta WHERE k='schema'").fetchone()[0]
            if version != SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"schema version {version}, this version reads {SCHEMA_VERSION}")
        except BaseException:
            conn.close()
            raise
        return conn

    # -- batches ---------------------------------------------------------------------------------
    def claim(self, batch_id: str) -> None:
        """Lock a batch for this fan-out; BatchInUseError when someone else holds it."""
        lock = BatchLock(self._lock_dir() / f"{batch_id}.lock")
        if not lock.acquire():
            raise BatchInUseError(
                f"Batch {batch_id} in the run ledger {self.path} is in use by another process or a cell "
                "that is still running. Wait for it to finish (or stop it) and run again; re-running "
                "then reuses its results. To run an independent copy, pass journal='another.sqlite'.")
        self._locks[batch_id] = lock

    def release(self, batch_id: str) -> None:
        lock = self._locks.pop(batch_id, None)
        if lock is not None:
            lock.release()

    # -- reads -----------------------------------------------------------------------------------
    def latest(self, row_keys: list[str]) -> dict[str, Attempt]:
        """The most recent attempt of each row key that has one."""
        found: dict[str, Attempt] = {}
        for start in range(0, len(row_keys), 500):
            chunk = row_keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT a.* FROM attempts a JOIN (SELECT row_key, MAX(attempt) m FROM attempts "
                f"WHERE row_key IN ({marks}) GROUP BY row_key) l ON a.row_key=l.row_key AND a.attempt=l.m",
                chunk).fetchall()
            found.update((r["row_key"], self._attempt(r)) for r in rows)
        return found

    def _attempt(self, r: sqlite3.Row) -> Attempt:
        try:
            return Attempt.from_row(r)
        except ValueError as exc:
            raise JournalError(
                f"The run ledger {self.path} has a damaged row (row_key {r['row_key']!r}, attempt "
                f"{r['attempt']}): {exc}. {_keep_advice(self.path, 'repaired')}") from None

    def known_run_ids(self) -> set[str]:
        return {r[0] for r in self._conn.execute("SELECT run_id FROM attempts WHERE run_id IS NOT NULL")}

    def recent_run_ids(self, since: float) -> list[str]:
        """Runs submitted (our clock) at or after `since`, by any batch of this ledger."""
        return [r[0] for r in self._conn.execute(
            "SELECT run_id FROM attempts WHERE run_id IS NOT NULL AND COALESCE(t0, updated) >= ?", (since,))]

    def states(self, batch_id: str | None = None) -> dict[str, int]:
        """Counts of the latest attempts by state (for reports and tests)."""
        where, args = ("WHERE batch_id=?", (batch_id,)) if batch_id else ("", ())
        rows = self._conn.execute(
            f"SELECT state, COUNT(*) FROM attempts a WHERE attempt=(SELECT MAX(attempt) FROM attempts b "
            f"WHERE b.row_key=a.row_key) {where.replace('WHERE', 'AND')} GROUP BY state", args).fetchall()
        return {r[0]: r[1] for r in rows}

    # -- transitions (one committed transaction each) ----------------------------------------------
    def _write(self, sql: str, args: tuple[Any, ...] = (),
               rows: Iterable[tuple[Any, ...]] | None = None) -> int:
        """One committed transaction: `sql` with `args`, or once per item of `rows`."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            cur = self._conn.executemany(sql, rows) if rows is not None else self._conn.execute(sql, args)
            self._conn.execute("COMMIT")
            return cur.rowcount
        except BaseException as exc:  # a generator of rows may fail too: never leave the write open
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            if not isinstance(exc, sqlite3.DatabaseError):
                raise
            raise JournalError(f"Could not write the run ledger {self.path} ({exc}). Check the disk and "
                               "the file's permissions, then run again: finished rows are kept.") from None

    def add_pending(self, rows: Iterable[tuple[str, int, str, str, str, str, str, str]]) -> None:
        """New attempts: (row_key, attempt, batch_id, origin, app_id, index_label, fingerprint, inputs).
        Consumed one row at a time (a generator keeps a 10,000-row batch from holding every row's text)."""
        now = time.time()
        self._write("INSERT INTO attempts (row_key, attempt, batch_id, origin, app_id, index_label, "
                    "fingerprint, inputs, state, updated) VALUES (?,?,?,?,?,?,?,?,'PENDING',?)",
                    rows=((*r, now) for r in rows))

    def submitting(self, key: str, attempt: int, t0: float) -> bool:
        """PENDING → SUBMITTING; False when the row was not PENDING (someone else took it)."""
        return self._write("UPDATE attempts SET state='SUBMITTING', t0=?, updated=? WHERE row_key=? AND "
                           "attempt=? AND state='PENDING'", (t0, time.time(), key, attempt)) == 1

    def submitted(self, key: str, attempt: int, run_id: str) -> None:
        self._write("UPDATE attempts SET state='SUBMITTED', run_id=?, status='queued', updated=? WHERE "
                    "row_key=? AND attempt=?", (run_id, time.time(), key, attempt))

    def back_to_pending(self, key: str, attempt: int) -> None:
        """After the run list proved that an interrupted POST created nothing."""
        self._write("UPDATE attempts SET state='PENDING', t0=NULL, updated=? WHERE row_key=? AND attempt=?",
                    (time.time(), key, attempt))

    def terminal(self, key: str, attempt: int, status: str, outputs: Sequence[Produced] | None,
                 error: str | None, seconds: float | None, run_id: str | None = None) -> None:
        self._write("UPDATE attempts SET state='TERMINAL', status=?, outputs=?, error=?, seconds=?, "
                    "run_id=COALESCE(?, run_id), updated=? WHERE row_key=? AND attempt=?",
                    (status, outputs_json(outputs) if outputs is not None else None, error, seconds, run_id,
                     time.time(), key, attempt))

    def unknown(self, key: str, attempt: int, error: str, status: str = "unknown",
                run_id: str | None = None) -> None:
        """UNKNOWN: 'unknown' (another process took the row) or 'uncertain' (a run may exist: run_id)."""
        self._write("UPDATE attempts SET state='UNKNOWN', status=?, error=?, run_id=?, updated=? WHERE "
                    "row_key=? AND attempt=?", (status, error, run_id, time.time(), key, attempt))

    def add_versions(self, run_id: str, versions: list[dict], outputs: Sequence[Produced]) -> None:
        """Keep a refined run's versions (JSON objects with a "number"), then show its latest outputs
        when the batch is reused."""
        self._write("INSERT OR REPLACE INTO versions VALUES (?,?,?)",
                    rows=[(run_id, v["number"], json.dumps(v)) for v in versions])
        self._write("UPDATE attempts SET outputs=?, updated=? WHERE run_id=?",
                    (outputs_json(outputs), time.time(), run_id))

    def versions(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._conn.execute("SELECT version FROM versions WHERE run_id=? ORDER BY number", (run_id,))
        return [json.loads(r[0]) for r in rows]

    def close(self) -> None:
        for batch_id in list(self._locks):
            self.release(batch_id)
        if not self._closed:
            self._closed = True
            ledger_cache.give(self.path, self._conn)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
