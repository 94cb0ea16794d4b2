"""Ledger connections kept open between calls, so a rerun does not open and check the file again.

Opening costs SQLite's WAL set-up and the integrity check, which reads the whole file: ~0.4 ms for a
new ledger, ~5 ms for one holding 10,000 rows, paid by every `run_dataframe` call (issue 17). A
connection is kept only while nothing but SQLite touched its files: it is put back with the stamp
(inode, size, mtime) of the file and its write-ahead log, and taken again only when both are
unchanged. A file replaced, truncated or damaged in place changes its stamp, so the next call opens
and checks it afresh; SQLite itself keeps a kept connection in step with other connections' writes.

A write within a timestamp tick of the put-back could leave the stamp unchanged (some file systems
keep mtime to 2 s), so a connection whose ledger file changed less than STAMP_TICK ago is closed
instead (its writes mostly go to the log: the file itself changes at checkpoints).
One connection is kept per file, used by one Journal at a time; a forked child never uses its
parent's (SQLite connections must not cross a fork).
"""

from __future__ import annotations

import atexit
import os
import sqlite3
import threading
import time
from pathlib import Path

STAMP_TICK = 2.0  # seconds: the coarsest mtime resolution of a common file system (FAT)
MAX_KEPT = 8  # ledgers kept open at once; the least recently used is closed

Stamp = tuple[tuple[int, int, int, int] | None, ...]

_lock = threading.Lock()
_idle: dict[Path, tuple[sqlite3.Connection, Stamp]] = {}
_owner = os.getpid()
_forked: list[sqlite3.Connection] = []  # a parent's connections: never closed nor used in a child


def _stamp(path: Path) -> tuple[Stamp, float]:
    """(the stamps of the ledger and its log, the ledger's mtime). The log's own mtime is that of its
    creation by this very connection, and only SQLite writes it (coherently with a kept connection)."""
    stamps: list[tuple[int, int, int, int] | None] = []
    for name in (path, Path(f"{path}-wal")):
        try:
            st = os.stat(name)
        except FileNotFoundError:
            stamps.append(None)
            continue
        stamps.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    ledger = stamps[0]
    return tuple(stamps), ledger[3] / 1e9 if ledger else 0.0


def _after_fork() -> None:
    global _owner
    if os.getpid() != _owner:
        _forked.extend(conn for conn, _ in _idle.values())
        _idle.clear()
        _owner = os.getpid()


def take(path: Path) -> sqlite3.Connection | None:
    """The kept connection to `path` when its files are exactly as it left them, else None."""
    with _lock:
        _after_fork()
        kept = _idle.pop(path, None)
    if kept is None:
        return None
    conn, stamp = kept
    try:
        now = _stamp(path)[0]
    except OSError:
        now = None
    if now == stamp:
        return conn
    conn.close()
    return None


def give(path: Path, conn: sqlite3.Connection) -> None:
    """Keep `conn` for the next Journal on `path`, or close it when its files' stamp cannot be trusted."""
    try:
        stamp, written = _stamp(path)
    except OSError:
        stamp, written = (None,), 0.0
    if not conn.in_transaction and stamp[0] is not None and time.time() - written > STAMP_TICK:
        with _lock:
            _after_fork()
            if path not in _idle:
                _idle[path] = (conn, stamp)
                if len(_idle) <= MAX_KEPT:
                    return
                conn = _idle.pop(next(iter(_idle)))[0]  # the least recently used
    conn.close()


@atexit.register
def close_all() -> None:
    """Close the kept connections: SQLite folds the log back into the ledger and removes it."""
    with _lock:
        _after_fork()
        kept = list(_idle.values())
        _idle.clear()
    for conn, _ in kept:
        conn.close()
