"""What a result frame remembers about how it was made, and the drift guard that uses it.

`df.attrs["lamina"]` gets the app's parameter schema as it was when the rows ran, its hash, the
time of the run and each row's run times. Re-running or retrying such a frame compares that schema
with the app now and, when parameters changed, says which before anything is sent: inputs valid
then may mean something else now (a removed option, a renamed parameter).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ..core.errors import LaminaError
from ..core.models import App, Run

DROP_LINEAGE = "df.attrs.pop('lamina')"


def schema_of(app: App) -> list[dict[str, Any]]:
    """The parameters as they matter to a caller: name, key, type, options, default, accept, multiple."""
    return [
        {"name": p.name, "key": p.key, "type": p.type, "options": list(p.options), "default": p.default,
         "accept": list(p.accept), "multiple": p.multiple}
        for p in app.parameters
    ]


def schema_hash(schema: list[dict[str, Any]]) -> str:
    text = json.dumps(schema, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def run_times(run: Run) -> tuple[str | None, str | None]:
    """(created, completed) of a run as ISO-8601 text, for the manifest."""
    return tuple(t.isoformat().replace("+00:00", "Z") if t else None  # type: ignore[return-value]
                 for t in (run.created_at, run.completed_at))


def lineage_attrs(app: App, outcomes: Mapping[int, Any], base_info: dict[str, Any] | None) -> dict[str, Any]:
    """The attrs entries for a result frame; a retry keeps the earlier rows' run times."""
    schema = schema_of(app)
    times = dict((base_info or {}).get("run_times", {}))
    times.update({str(pos): [o.created_at, o.completed_at] for pos, o in outcomes.items()
                  if getattr(o, "created_at", None) or getattr(o, "completed_at", None)})
    return {"schema": schema, "schema_hash": schema_hash(schema), "ran_at": now_iso(), "run_times": times}


def changes(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[str]:
    """Human-readable differences between two schemas, by parameter name."""
    old, new = {p["name"]: p for p in before}, {p["name"]: p for p in after}
    out = [f"parameter {name!r} was removed" for name in old if name not in new]
    out += [f"parameter {name!r} was added" for name in new if name not in old]
    for name in (n for n in old if n in new):
        was, now = old[name], new[name]
        gone = [o for o in was["options"] if o not in now["options"]]
        added = [o for o in now["options"] if o not in was["options"]]
        if gone or added:
            detail = ", ".join([f"removed {gone}"] * bool(gone) + [f"added {added}"] * bool(added))
            out.append(f"the options of {name!r} changed ({detail})")
        for attr in ("type", "default", "key", "accept", "multiple"):
            if was.get(attr) != now.get(attr) and not (attr == "default" and gone):
                out.append(f"the {attr} of {name!r} changed from {was.get(attr)!r} to {now.get(attr)!r}")
    return out


def check_drift(info: Any, app: App) -> None:
    """Raise, naming what changed, when a frame that ran `app` is run again after its parameters changed."""
    if not isinstance(info, dict) or info.get("app_id") != app.id or not isinstance(info.get("schema"), list):
        return
    found = changes(info["schema"], schema_of(app))
    if not found:
        return
    raise LaminaError(
        f"{app.name!r} changed since this frame ran (at {info.get('ran_at', 'an unknown time')}): "
        + "; ".join(found) + ". Nothing was sent. Check the inputs against the app as it is now "
        f"(`%lamina form {app.id}`); to run anyway with the current parameters, drop the old "
        f"lineage first: {DROP_LINEAGE}."
    )
