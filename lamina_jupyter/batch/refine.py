"""`result.lamina.refine("feedback", rows=...)`: refine chosen rows of a result frame in place, and
`result.lamina.versions(row)`: every output set a row's run has had.

Refining replaces a run's outputs on the server, so each row's versions are written to the batch's
ledger (the `versions` table) as well as the client's process-wide store: they survive a kernel
restart, and rerunning the batch then shows the latest outputs. Every chosen row is checked before
anything is paid: a row that is not completed stops the call with the list of such rows.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..core.client import AsyncClient, Client
from ..core.errors import LaminaError
from ..core.refine import VERSIONS, RunVersion, check_feedback
from ..notebook import session
from .ledger import Journal
from .outcome import outputs_of
from .results import CLIENTS
from .sweep import SweepResult

THREADS = 4
VERSION_COLUMN = "lamina_version"


def _client(info: dict[str, Any], given: Any) -> tuple[Client, bool]:
    """(sync client, whether we made it): the given one, the batch's, or the kernel's session client."""
    source = given or CLIENTS.get(info["client_token"]) or session.current_client()
    if isinstance(source, Client):
        return source, False
    if isinstance(source, AsyncClient):
        s = source.settings
        return Client(api_key=s.api_key, base_url=s.base_url, api=s.api, timeout=s.timeout,
                      max_retries=s.max_retries, governor=source.governor), True
    raise TypeError(f"client must be a lamina_jupyter Client or AsyncClient, not {type(source).__name__}")


def _chosen(df: Any, rows: Any) -> Any:
    """The selected rows: all completed ones, index labels (one or a list) or a boolean mask."""
    if rows is None:
        return df[df["lamina_status"] == "completed"]
    if isinstance(rows, (list, tuple)) or hasattr(rows, "dtype"):
        return df.loc[rows]
    return df.loc[[rows]]


def _ledger_versions(info: dict[str, Any], run_id: str) -> list[RunVersion]:
    if not info.get("journal"):
        return []
    with Journal(info["journal"]) as journal:
        return [RunVersion.from_json(v) for v in journal.versions(run_id)]


def versions(df: Any, info: dict[str, Any], row: Any) -> tuple[RunVersion, ...]:
    """The versions of one row's run, oldest first: this process's, else the ledger's."""
    run_id = df.loc[row, "lamina_run_id"]
    if not isinstance(run_id, str):
        raise ValueError(f"row {row!r} has no run (status {df.loc[row, 'lamina_status']}); nothing to show")
    VERSIONS.remember(_ledger_versions(info, run_id))
    return VERSIONS.get(run_id)


def refine_rows(df: Any, info: dict[str, Any], feedback: str, rows: Any = None, client: Any = None) -> Any:
    """Refine the chosen rows' runs; returns a copy with their new outputs, lamina_version and errors."""
    check_feedback(feedback)
    chosen = _chosen(df, rows)
    statuses = chosen["lamina_status"].items()
    blocked = [f"{label!r} ({status})" for label, status in statuses if status != "completed"]
    if blocked:
        raise ValueError(f"Only completed rows can be refined; these are not: {', '.join(blocked)}. Choose "
                         "rows=result.index[result.lamina_status == 'completed'] or retry_failed() first.")
    run_ids = list(chosen["lamina_run_id"])
    for run_id in run_ids:
        VERSIONS.remember(_ledger_versions(info, run_id))
    sync, owned = _client(info, client)

    def one(run_id: str) -> Any:
        try:
            return sync.refine(run_id, feedback)
        except LaminaError as exc:  # one row's failure is reported on that row; the others go on
            return exc

    try:
        with ThreadPoolExecutor(THREADS) as pool:
            results = dict(zip(run_ids, pool.map(one, run_ids), strict=True))
    finally:
        if owned:
            sync.close()
    return _frame(df, info, chosen.index, results)


def _frame(df: Any, info: dict[str, Any], labels: Any, results: dict[str, Any]) -> Any:
    out = df.copy()
    if VERSION_COLUMN not in out.columns:
        out[VERSION_COLUMN] = [len(VERSIONS.get(r)) or 1 if isinstance(r, str) else None
                               for r in out["lamina_run_id"]]
    journal = Journal(info["journal"]) if info.get("journal") else None
    try:
        for label in labels:
            result = results[df.loc[label, "lamina_run_id"]]
            if isinstance(result, LaminaError):
                out.loc[label, "lamina_error"] = f"refine failed: {result}"
                continue
            for o in info["outputs"]:
                out.loc[label, o["column"]] = next(
                    (x.value for x in result.outputs if x.label == o["label"]), out.loc[label, o["column"]])
            out.loc[label, VERSION_COLUMN] = len(result.versions)
            if journal is not None:
                journal.add_versions(result.id, [v.to_json() for v in result.versions], outputs_of(result))
    finally:
        if journal is not None:
            journal.close()
    return SweepResult.of(out) if isinstance(df, SweepResult) else out  # a refined sweep shows its grid
