"""Ledger connections kept open between calls, so a rerun does not open and check the file again.

Opening costs SQLite's WAL set-up and the integrity check, which reads the whole file: ~0.4 ms for a
new ledger, ~5 ms for one holding 10,000 rows, paid by every `run_dataframe` call (issue 17). A
connection is kept only when its write-ahead log is empty, so the ledger file alone holds every row
(a copy, a rename or a backup of it misses nothing, as when every call closed its connection); in
practice that is a rerun answered by the ledger, the call this is for. It is put back with the stamp
(inode, size, mtime) of the file and its log, and taken again only when both are unchanged. A file
replaced, truncated or damaged in place changes its stamp, so the next call opens and checks it
afresh; SQLite itself keeps a kept connection in step with other connections' writes.

A write within a timestamp tick of the put-back could leave the stamp unchanged (some file systems
keep mtime to 2 s), so a connection whose ledger file changed less than STAMP_TICK ago is closed
instead. Files are known by their real path (SQLite puts a symlinked ledger's log beside the
target). One connection is kept per file, used by one Journal at a time, and none crosses a fork:
SQLite's locks are per process, so a child beside a parent's open connection would take none.
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
_idle: dict[str, tuple[sqlite3.Connection, Stamp]] = {}


def _stamp(real: str) -> Stamp:
    """The stamps of the ledger and its log (None: no such file)."""
    stamps: list[tuple[int, int, int, int] | None] = []
    for name in (real, f"{real}-wal"):
        try:
            st = os.stat(name)
        except FileNotFoundError:
            stamps.append(None)
            continue
        stamps.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(stamps)


def take(path: Path) -> sqlite3.Connection | None:
    """The kept connection to `path` when its files are exactly as it left them, else None."""
    real = os.path.realpath(path)
    with _lock:
        kept = _idle.pop(real, None)
    if kept is None:
        return None
    conn, stamp = kept
    try:
        same = _stamp(real) == stamp
    except OSError:
        same = False
    if same:
        return conn
    conn.close()
    return None


def give(path: Path, conn: sqlite3.Connection) -> None:
    """Keep `conn` for the next Journal on `path`, or close it when its files' stamp cannot be trusted
    or its log holds rows the file does not."""
    real = os.path.realpath(path)
    try:
        ledger, log = stamp = _stamp(real)
    except OSError:
        ledger = None
    if (ledger is not None and (log is None or log[2] == 0) and not conn.in_transaction
            and time.time() - ledger[3] / 1e9 > STAMP_TICK):
        with _lock:
            if _idle.get(real, (None,))[0] is conn:  # a Journal closed twice
                return
            if real not in _idle:
                _idle[real] = (conn, stamp)
                if len(_idle) <= MAX_KEPT:
                    return
                conn = _idle.pop(next(iter(_idle)))[0]  # the least recently used
    conn.close()


def close_all() -> None:
    """Close the kept connections (at exit, so SQLite removes the logs; before a fork)."""
    with _lock:
        kept = list(_idle.values())
        _idle.clear()
    for conn, _ in kept:
        conn.close()


atexit.register(close_all)
if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(before=close_all)
