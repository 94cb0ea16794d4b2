"""A run and its outputs, and how they look on the wire (both id-field generations)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from .apps import App, OutputSpec

TERMINAL = ("completed", "failed", "cancelled")


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}Z"


@dataclass
class OutputState:
    spec: OutputSpec
    status: str = "pending"
    value: Any = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # mimeType, dimensions, durationSeconds

    def to_json(self) -> dict[str, Any]:
        done = self.status == "completed"
        out = {
            "id": self.spec.node_id,
            "label": self.spec.label,
            "type": self.spec.type if done else "pending",
            "value": self.value,
            "status": self.status,
            "error": self.error,
        }
        if done:
            out.update(self.extra)
        return out


@dataclass
class Run:
    id: str
    app: App
    family: str
    raw_inputs: Any
    resolved: dict[str, Any]
    outputs: list[OutputState]
    webhook_url: str | None
    created: float
    steps: list[float]  # loop-time deadlines: [start running, output 0 done, output 1 done, ...]
    fail_at: int | None  # output index where the run fails, or None
    stuck: bool
    status: str = "queued"
    started: float | None = None
    completed: float | None = None
    error_message: str | None = None
    step: int = 0
    paused_at: float | None = None
    timer: asyncio.TimerHandle | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    prerequisite: asyncio.Future | None = None  # e.g. Cartoonify's input fetch
    fetched: bytes | None = None  # the fetched url input, once the prerequisite succeeded

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def progress(self) -> dict[str, Any]:
        total = len(self.outputs)
        done = sum(o.status == "completed" for o in self.outputs)
        failed = sum(o.status in ("error", "cancelled") for o in self.outputs)
        pct = round(100 * done / total) if total else None
        return {
            "totalOutputs": total,
            "completedOutputs": done,
            "failedOutputs": failed,
            "percentComplete": pct,
        }

    def to_json(self, family: str | None = None) -> dict[str, Any]:
        id_field = "executionId" if (family or self.family) in ("legacy", "intermediate") else "runId"
        body: dict[str, Any] = {
            id_field: self.id,
            "workflowId": self.app.id,
            "workflowName": self.app.name,
            "status": self.status,
        }
        if self.webhook_url:
            body["webhookUrl"] = self.webhook_url
        body |= {
            "outputs": [o.to_json() for o in self.outputs],
            "errorMessage": self.error_message,
            "startedAt": iso(self.started),
            "completedAt": iso(self.completed),
            "createdAt": iso(self.created),
            "progress": self.progress(),
        }
        return body

    def summary_json(self) -> dict[str, Any]:
        return {
            "runId": self.id,
            "workflowId": self.app.id,
            "workflowName": self.app.name,
            "status": self.status,
            "source": "api_app",
            "errorMessage": self.error_message,
            "startedAt": iso(self.started),
            "completedAt": iso(self.completed),
            "createdAt": iso(self.created),
        }


async def wait_any(events: list[asyncio.Event], timeout: float) -> bool:
    """Wait until one of the events is set or the timeout passes; True when an event fired."""
    if not events:
        await asyncio.sleep(max(0.0, timeout))
        return False
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    done, pending = await asyncio.wait(
        waiters, timeout=max(0.0, timeout), return_when=asyncio.FIRST_COMPLETED
    )
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return bool(done)
