"""Refining a finished run with feedback (lamina-api.md §4.11), and keeping every version of it.

The API replaces a run's outputs in place on the same run id, so the previous outputs are gone
unless the client keeps them: before each refinement the run's current outputs are recorded, and
after it the new ones, in a bounded process-wide store (`VERSIONS`). The returned run carries them
all in `run.versions`, oldest first. Batches also write them to their ledger (batch/ledger.py).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from .errors import RunFailedError, TransportError, ValidationError
from .flows import get_run, parse_run, require_v1, run_id_of
from .models import Output, Run, parse_time
from .protocol import CREATE, Context, Flow, OutcomeUnknown, call
from .redact import redacted_repr

REFINE_READ_TIMEOUT = 600.0  # the call answers after re-execution; how long that takes is undocumented
MAX_FEEDBACK = 2000


@dataclass(frozen=True)
class RunVersion:
    """One state of a run's outputs: number 1 is what the run first produced, each refinement adds
    one with the feedback that made it (feedback None: changed outside this client)."""

    run_id: str
    number: int
    outputs: tuple[Output, ...]
    feedback: str | None = None
    summary: str | None = None
    refined_nodes: tuple[Mapping[str, Any], ...] = ()
    recorded_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    __repr__ = redacted_repr

    def output(self, label: str) -> Output:
        """The first output with this label or id, as in Run.output."""
        return Run(self.run_id, "completed", outputs=self.outputs).output(label)

    def to_json(self) -> dict[str, Any]:
        return {"runId": self.run_id, "number": self.number, "outputs": [dict(o.raw) for o in self.outputs],
                "feedback": self.feedback, "summary": self.summary,
                "refinedNodes": [dict(n) for n in self.refined_nodes],
                "recordedAt": self.recorded_at.isoformat()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunVersion:
        return cls(run_id=str(data["runId"]), number=int(data["number"]),
                   outputs=tuple(Output.from_json(o) for o in data.get("outputs") or ()),
                   feedback=data.get("feedback"), summary=data.get("summary"),
                   refined_nodes=tuple(data.get("refinedNodes") or ()),
                   recorded_at=parse_time(data.get("recordedAt")) or datetime.now(timezone.utc))


def _values(outputs: Sequence[Output]) -> list[tuple[Any, Any]]:
    return [(o.id, o.value) for o in outputs]


class VersionStore:
    """Versions per run id for the runs most recently refined in this process (bounded, thread-safe:
    batches refine on a worker thread)."""

    def __init__(self, max_runs: int = 1000) -> None:
        self.max_runs = max_runs
        self._runs: OrderedDict[str, list[RunVersion]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, run_id: str) -> tuple[RunVersion, ...]:
        with self._lock:
            return tuple(self._runs.get(run_id, ()))

    def remember(self, versions: Sequence[RunVersion]) -> None:
        """Adopt versions kept elsewhere (a batch ledger after a kernel restart) unless we know more."""
        if not versions:
            return
        with self._lock:
            if len(self._runs.get(versions[0].run_id, ())) < len(versions):
                self._put(versions[0].run_id, list(versions))

    def record(self, run: Run, feedback: str | None = None, summary: str | None = None,
               refined_nodes: Sequence[Mapping[str, Any]] = ()) -> tuple[RunVersion, ...]:
        """Add the run's current outputs as its next version, unless they equal the last one."""
        with self._lock:
            versions = list(self._runs.get(run.id, ()))
            if not versions or _values(versions[-1].outputs) != _values(run.outputs):
                versions.append(RunVersion(run.id, len(versions) + 1, run.outputs, feedback, summary,
                                           tuple(refined_nodes)))
            self._put(run.id, versions)
            return tuple(versions)

    def _put(self, run_id: str, versions: list[RunVersion]) -> None:
        self._runs[run_id] = versions
        self._runs.move_to_end(run_id)
        while len(self._runs) > self.max_runs:
            self._runs.popitem(last=False)


VERSIONS = VersionStore()


def check_feedback(feedback: Any) -> str:
    if not isinstance(feedback, str):
        raise TypeError(f"feedback must be a string, not {type(feedback).__name__}")
    text = feedback.strip()
    if not text or len(text) > MAX_FEEDBACK:
        raise ValueError(f"feedback must be 1 to {MAX_FEEDBACK} characters of text saying what to change, "
                         'e.g. "make the background brighter"')
    return text


def _merged(ctx: Context, current: Run, data: Mapping[str, Any]) -> Run:
    """The run after refinement: outputs replaced by id (the answer may list only refined nodes)."""
    fresh, old = data.get("outputs"), current.raw.get("outputs")
    fresh, old = (fresh if isinstance(fresh, list) else []), (old if isinstance(old, list) else [])
    by_id = {o["id"]: o for o in fresh if isinstance(o, dict) and isinstance(o.get("id"), str)}
    outputs = [by_id.pop(o.get("id"), o) if isinstance(o, dict) else o for o in old] + list(by_id.values())
    rest = {k: v for k, v in data.items() if k != "outputs"}
    return parse_run(ctx, {**current.raw, **rest, "outputs": outputs})


def _not_refinable(run: Run) -> ValidationError:
    if run.status in ("queued", "running"):
        step = f"wait for it (client.wait({run.id!r})), then refine"
    else:
        step = "refine only completed runs; start a new run with changed inputs instead"
    return ValidationError(f"Run {run.id} is {run.status}, and only completed runs can be refined: {step}.",
                           code="RUN_NOT_COMPLETED", run_id=run.id)


def refine(ctx: Context, run: Run | str, feedback: str) -> Flow:
    """Refine a completed run in place; returns it with `versions` (every output set it has had)."""
    require_v1(ctx, "Refining a run")
    text = check_feedback(feedback)
    run_id = run_id_of(run)
    current = yield from get_run(ctx, run_id)
    if current.status != "completed":
        raise _not_refinable(current)
    VERSIONS.record(current)
    try:
        data, _ = yield from call(ctx, "POST", "/v1/runs/{}/feedback", run_id, kind=CREATE,
                                  json_body={"feedback": text}, read_timeout=REFINE_READ_TIMEOUT,
                                  run_id=run_id)
    except OutcomeUnknown as unknown:  # sent, answer lost: never resend blindly (it costs credits)
        after = yield from get_run(ctx, run_id)
        if _values(after.outputs) == _values(current.outputs):
            raise TransportError(f"Refining run {run_id} got no clear answer ({unknown.cause}) and its "
                                 "outputs have not changed yet; the refinement may still be applied. Check "
                                 f"client.get_run({run_id!r}) in a minute before refining again.") from None
        data = {"outputs": after.raw.get("outputs"), "status": after.status}
    refined = _merged(ctx, current, data)
    if refined.status != "completed":
        raise RunFailedError(refined)
    nodes = [n for n in data.get("refinedNodes") or () if isinstance(n, Mapping)]
    summary = data.get("summary") if isinstance(data.get("summary"), str) else None
    return replace(refined, versions=VERSIONS.record(refined, text, summary, nodes))
