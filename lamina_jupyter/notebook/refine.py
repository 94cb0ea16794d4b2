"""The Refine box: feedback and a Refine button under a finished run, then its before/after view.

Like the form's Run button, Refine only validates and schedules: the refinement runs as a task on
the kernel's loop (it can take as long as a run), thumbnails are drawn on a worker thread, and only
the loop touches widgets. The box sits under a run in the form. A displayed Run stays a static view
(no widget): a saved notebook reopened without widget state would show "model not found" in its
place; it is refined with `%lamina refine RUN_ID feedback` or `client.refine(run, ...)`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import ipywidgets as W

from ..core.client import Client
from ..core.errors import LaminaError
from ..core.models import Run
from . import kernel_ui, session
from .compare import versions_view
from .views import esc


class RefineBox(W.VBox):
    """Hidden until `show(run)` gets a completed run; `feedback`, `button`, `status`, `view` and `task`
    are public so notebooks and tests can drive it; `await box.finished()` returns the refined run."""

    def __init__(self, client: Client | None = None, run: Run | None = None) -> None:
        self.client = client
        self.run: Run | None = None
        self.feedback = W.Textarea(placeholder="What should change? e.g. make the background brighter",
                                   layout=W.Layout(width="100%"))
        self.button = W.Button(description="Refine", icon="magic")
        self.button.add_class("lamina-refine-button")
        self.status, self.view = W.HTML(""), W.HTML("")
        self.view.add_class("lamina-versions")
        self.task: asyncio.Task[Run | None] | None = None
        super().__init__([W.HTML("<b>Refine this run</b> <small>(in place: every version is kept)</small>"),
                          self.feedback, self.button, self.status, self.view])
        self.add_class("lamina-refine")
        self.button.on_click(self._clicked)
        self.show(run)

    def show(self, run: Run | None) -> None:
        """Follow a new run: visible only once it is completed (only completed runs can be refined)."""
        if run is None or run.id != (self.run.id if self.run else None):
            self.view.value = self.status.value = ""
        self.run = run
        self.layout.display = None if run is not None and run.status == "completed" else "none"

    def _clicked(self, _button: Any = None) -> None:
        if self.run is None or (self.task is not None and not self.task.done()):
            return
        text = self.feedback.value.strip()
        if not text:
            self.status.value = "<span style='color:#cf222e'>Write what should change, then Refine.</span>"
            return
        self.button.disabled = True
        self.task = kernel_ui.schedule(self._refine(self.run, text))

    async def finished(self) -> Run | None:
        if self.task is not None:
            await asyncio.shield(self.task)
        return self.run

    async def _refine(self, run: Run, text: str) -> Run | None:
        self.status.value = f"refining run <code>{esc(run.id)}</code>…"
        try:
            async with session.async_client(self.client) as ac:
                refined = await ac.refine(run, text)
            html = (await asyncio.to_thread(versions_view(refined)._repr_mimebundle_))["text/html"]
        except LaminaError as exc:
            self.status.value = f"<div style='color:#cf222e;white-space:pre-wrap'>{esc(exc.message)}</div>"
            return None
        finally:
            self.button.disabled = False
        self.run, self.view.value = refined, html
        self.status.value = f"version {len(refined.versions)} of run <code>{esc(refined.id)}</code>"
        self.feedback.value = ""
        return refined
