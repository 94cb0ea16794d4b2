"""Runs and their lifecycle: queued -> running -> outputs complete one by one -> terminal.

Each run gets a plan at creation (step deadlines, whether and where it fails) drawn from a seeded
RNG, and one loop timer per step (`call_at`), so 500+ concurrent runs cost a few timer handles.
All mutation happens on the emulator's event loop thread. Waiters (wait, SSE) await `run.changed`,
an Event swapped on every change.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

from .apps import App, OutputSpec
from .config import Settings, Stats
from .run import OutputState, Run

FAIL_WORD, STUCK_WORD = "#fail", "#stuck"


def has_word(resolved: dict[str, Any], word: str) -> bool:
    return any(isinstance(v, str) and word in v.lower() for v in resolved.values())


class RunStore:
    """Creates runs and drives them through their steps on the loop."""

    def __init__(self, settings: Settings, stats: Stats, seed: int) -> None:
        self.settings, self.stats = settings, stats
        self.rng = random.Random(seed)
        self.runs: dict[str, Run] = {}
        self.order: list[Run] = []
        self.fingerprints: set[str] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        # hooks set by the server: produce an output's value, react to a terminal run
        self.complete_output: Callable[[Run, OutputState], None] = lambda run, out: None
        self.on_terminal: Callable[[Run], None] = lambda run: None

    # creation -------------------------------------------------------------------------------
    def create(
        self,
        app: App,
        family: str,
        raw_inputs: Any,
        resolved: dict[str, Any],
        outputs: list[OutputSpec],
        webhook_url: str | None,
    ) -> Run:
        assert self.loop is not None
        s = self.settings
        duration = s.latency * app.latency_factor * max(0.0, 1 + s.jitter * self.rng.uniform(-1, 1))
        fails = self.rng.random() < s.failure_rate or has_word(resolved, FAIL_WORD)
        now = self.loop.time()
        queued_for = 0.2 * duration
        per_output = (duration - queued_for) / len(outputs)
        steps = [now + queued_for] + [now + queued_for + per_output * (i + 1) for i in range(len(outputs))]
        run = Run(
            str(uuid.uuid4()),
            app,
            family,
            raw_inputs,
            resolved,
            [OutputState(o) for o in outputs],
            webhook_url,
            time.time(),
            steps,
            len(outputs) - 1 if fails else None,
            has_word(resolved, STUCK_WORD),
        )
        self.runs[run.id] = run
        self.order.append(run)
        fingerprint = json.dumps([app.id, resolved, [o.label for o in outputs]], sort_keys=True, default=str)
        if fingerprint in self.fingerprints:
            self.stats.duplicate_starts += 1
        self.fingerprints.add(fingerprint)
        self.stats.runs_created += 1
        self._schedule(run)
        return run

    # progression ----------------------------------------------------------------------------
    def _schedule(self, run: Run) -> None:
        assert self.loop is not None
        if run.terminal or run.step >= len(run.steps):
            return
        run.timer = self.loop.call_at(run.steps[run.step], self._advance, run)

    def _advance(self, run: Run) -> None:
        run.timer = None
        if run.terminal:
            return
        if run.step == 0:
            run.status, run.started = "running", time.time()
            self.stats.running_delta(1)
            run.step = 1
            self._changed(run)
            self._schedule(run)
            return
        if self.settings.hold or run.stuck:
            run.paused_at = self.loop.time() if self.loop else None
            return
        if run.prerequisite is not None and not run.prerequisite.done():
            run.prerequisite.add_done_callback(lambda _f: self._advance(run) if run.timer is None else None)
            return
        index = run.step - 1
        out = run.outputs[index]
        if run.fail_at == index:
            self.fail(
                run, "Image generation timed out" if out.spec.type != "text" else "Text generation failed"
            )
            return
        self.complete_output(run, out)
        out.status = "completed"
        run.step += 1
        if run.step >= len(run.steps):
            self._finish(run, "completed")
        else:
            self._changed(run)
            self._schedule(run)

    def release_held(self) -> None:
        """hold=False: paused runs continue, their remaining steps shifted by the time spent held."""
        assert self.loop is not None
        now = self.loop.time()
        for run in self.order:
            if run.paused_at is not None and not run.terminal and not run.stuck:
                shift = now - run.paused_at
                run.steps = run.steps[: run.step] + [t + shift for t in run.steps[run.step :]]
                run.paused_at = None
                self._schedule(run)

    def fail(self, run: Run, message: str) -> None:
        if run.terminal:
            return
        for out in run.outputs:
            if out.status == "pending":
                out.status, out.error = "error", message
        if run.started is None:
            run.started = time.time()
        run.error_message = message
        self._finish(run, "failed")

    def cancel(self, run: Run) -> None:
        if run.terminal:
            return
        for out in run.outputs:
            if out.status == "pending":
                out.status, out.error = "cancelled", "Run was cancelled"
        self._finish(run, "cancelled")

    def _finish(self, run: Run, status: str) -> None:
        if run.timer is not None:
            run.timer.cancel()
            run.timer = None
        if run.status == "running":
            self.stats.running_delta(-1)
        run.status, run.completed, run.paused_at = status, time.time(), None
        self._changed(run)
        self.on_terminal(run)

    def _changed(self, run: Run) -> None:
        event, run.changed = run.changed, asyncio.Event()
        event.set()

    # queries ----------------------------------------------------------------------------------
    def get(self, run_id: str) -> Run | None:
        return self.runs.get(run_id)

    def list(self, status: str | None, app_id: str | None, since: float | None) -> list[Run]:
        runs = [
            r
            for r in reversed(self.order)
            if (status is None or r.status == status)
            and (app_id is None or r.app.id == app_id)
            and (since is None or r.created > since)
        ]
        return runs

    def shutdown(self) -> None:
        for run in self.order:
            if run.timer is not None:
                run.timer.cancel()
            run.changed.set()
