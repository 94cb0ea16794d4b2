"""The manifest `download()` writes beside the files: what each file is and how it was made.

One record per saved file, as `manifest.csv` (one line each; inputs as JSON text) and
`manifest.json` (a list), so a folder of outputs can be traced back to its run, app, app version
(the parameter schema's hash) and inputs without the notebook that made it. The folder travels, so
key-shaped inputs and credential-named ones are recorded masked.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..core.redact import redact_data

FIELDS = ("file", "sha256", "row_index", "position", "column", "run_id", "app_id", "app_name", "schema_hash",
          "inputs", "status", "created_at", "completed_at")
NAMES = ("manifest.csv", "manifest.json")


def _plain(value: Any) -> Any:
    """JSON-safe cell values (numpy scalars, NaN and timestamps included)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value if isinstance(value, (str, int, float, bool)) else str(value)


def sha256_of(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: str | os.PathLike[str], records: Iterable[Mapping[str, Any]]) -> list[Path]:
    """Write manifest.csv and manifest.json into `folder`; returns their paths."""
    rows = [{name: r.get(name) for name in FIELDS} for r in records]
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = (target / name for name in NAMES)
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: json.dumps(v) if isinstance(v, dict) else v for k, v in row.items()})
    json_path.write_text(json.dumps(rows, indent=2, sort_keys=False), encoding="utf-8")
    return [csv_path, json_path]


def records_for(df: Any, saved: list[tuple[int, str, str]], folder: Path) -> list[dict[str, Any]]:
    """One record per (position, column, path) that download() saved."""
    info = df.attrs.get("lamina", {}) if isinstance(getattr(df, "attrs", None), dict) else {}
    mapping, constants = info.get("columns", {}), info.get("constants", {})
    times = info.get("run_times", {})
    records = []
    for position, column, path in saved:
        row = df.iloc[position]
        created, completed = times.get(str(position), [None, None])
        inputs = {param: _plain(row.get(col)) for col, param in mapping.items()}
        inputs.update({param: _plain(value) for param, value in constants.items()})
        records.append({
            "file": Path(path).resolve().relative_to(folder.resolve()).as_posix(), "sha256": sha256_of(path),
            "row_index": _plain(df.index[position]), "position": position, "column": column,
            "run_id": _plain(row.get("lamina_run_id")), "app_id": info.get("app_id"),
            "app_name": info.get("app_name"), "schema_hash": info.get("schema_hash"),
            "inputs": redact_data(inputs),
            "status": _plain(row.get("lamina_status")), "created_at": created, "completed_at": completed,
        })
    return records


def write_download_manifest(df: Any, saved: list[tuple[int, str, str]]) -> list[Path]:
    """The manifest for a download, in the folder that holds all its files (nothing saved: none)."""
    if not saved:
        return []
    folder = Path(os.path.commonpath([Path(path).resolve().parent for _, _, path in saved]))
    return write_manifest(folder, records_for(df, saved, folder))
