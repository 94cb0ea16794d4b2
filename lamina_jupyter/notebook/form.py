"""`form(app)`: a widget form generated from an app's parameters that runs the app without blocking.

The Run button only validates and schedules: the AsyncClient work runs on the forms' worker loop
(kernel_ui.py), so other cells keep running while a run is in flight, and the run goes on while a
synchronous batch blocks the kernel thread. Every widget write goes through `kernel_ui.post`, which
applies it on the kernel thread; thumbnails are rendered to plain HTML strings off that thread.
The API key never enters a widget: values, code and history are built from the inputs alone.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Coroutine
from typing import Any

import ipywidgets as W

from ..core.client import Client
from ..core.errors import LaminaError, UncertainStartError, ValidationError
from ..core.inputs import prepare_inputs
from ..core.models import App, Run
from ..core.redact import redact
from . import kernel_ui, session
from .fields import Field, UrlField, widget_for
from .form_batch import BatchCollector, prefill
from .form_sweep import FIX_FIELDS, SweepControls, sweep_code
from .refine import RefineBox
from .views import esc, output_html, status_html

HISTORY = 5
TICK = 0.5


def code_for(app: App, inputs: dict[str, Any]) -> str:
    """The Python call equivalent to a form submission (no key: Client() finds it itself).

    Every server string (app id and name, parameter names, values) enters as a `repr` literal, even
    in the comment: raw text with a newline would end the comment and run when pasted."""
    lines = ["from lamina_jupyter import Client", "",
             "client = Client()  # key from LAMINA_API_KEY, .env or ~/.lamina (never paste it here)",
             f"run = client.run({app.id!r}, {{  # {app.name!r}"]
    lines += [f"    {name!r}: {value!r}," for name, value in inputs.items()]
    lines += ["})", "run.outputs"]
    return "\n".join(lines)


def form_advice(problem: dict[str, Any]) -> str:
    """A validation problem told to someone filling the form: the field to fill, not the Python key
    (the core's message speaks to code, magic_inputs.py to a `%lamina run` line)."""
    if problem.get("error") == "missing_no_default":
        return f"Fill in {str(problem.get('field'))!r} (required)."
    return str(problem.get("message"))


class Form(W.VBox):
    """The generated form. `fields`, `run_button`, `status`, `outputs`, `task` and `runs` are public so
    notebooks and tests can drive it; `await form.finished()` returns the last run."""

    def __init__(self, app: App, client: Client | None = None) -> None:
        self.app, self.client = app, client
        self.fields: list[Field] = [widget_for(p) for p in app.parameters]
        names = [p.name for p in app.parameters]
        self._names = {id(f): (f.param.key if names.count(f.param.name) > 1 and f.param.key else f.param.name)
                       for f in self.fields}
        self.run_button = W.Button(description="Run", button_style="primary", icon="play")
        self.run_button.add_class("lamina-run-button")
        self.code_button = W.Button(description="Copy as code", icon="code")
        self.status = W.HTML("")
        self.status.add_class("lamina-status-line")
        self.problems = W.HTML("")
        self.outputs = W.HTML("")
        self.outputs.add_class("lamina-outputs")
        self.code = W.HTML("")
        self.history = W.HTML("")
        self.task: asyncio.Future[Run | None] | None = None
        self.runs: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self.last_run: Run | None = None
        self._rendered: dict[int, str] = {}
        self._started = 0.0
        header = W.HTML(f"<b>{esc(app.name)}</b> <small><code>{esc(app.id)}</code></small>"
                        f"<div style='color:#57606a'>{esc(app.description)}</div>")
        self.refine_box = RefineBox(client)  # shown under the run once it completed
        super().__init__([header, *(f.box for f in self.fields), W.HBox([self.run_button, self.code_button]),
                          self.status, self.problems, self.outputs, self.refine_box, self.code, self.history])
        self.add_class("lamina-form")
        self.run_button.on_click(self._clicked)
        self.code_button.on_click(self._show_code)
        self.batcher = BatchCollector(self)  # "Add to batch" and form.batch (form_batch.py)
        self.sweeper = SweepControls(self)  # the Sweep toggle, form.sweep_result (form_sweep.py)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The live widget view, plus a text/plain line for where no widget front end runs (a saved
        notebook's HTML, GitHub's viewer): what this is and how to open it."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            name = redact(self.app.name)  # server text, scrubbed like every other view of it
            bundle["text/plain"] = (f"Lamina form for {name!r} (a widget: run this cell in Jupyter to use "
                                    f"it; or lamina_jupyter.form({name!r}))")
        return bundle

    @property
    def batch(self) -> Any:
        """The rows collected with "Add to batch" as a DataFrame, ready for `df.lamina.run(app)`."""
        return self.batcher.frame()

    @property
    def sweep_result(self) -> Any:
        """The last sweep's result frame (shown as its grid), or None before a sweep ran."""
        return self.sweeper.result

    # -- inputs --------------------------------------------------------------------------------
    def name_of(self, field: Field) -> str:
        """The input key a field sends (its name; its key when two parameters share the name)."""
        return self._names[id(field)]

    def values(self) -> dict[str, Any]:
        """The inputs the form would send, by parameter name (files not yet uploaded)."""
        return {self._names[id(f)]: v for f in self.fields if (v := f.value()) is not None}

    def validate(self) -> dict[str, Any] | None:
        """Show every problem inline; return the inputs when there are none."""
        for f in self.fields:
            f.show_problem(f.problem() if isinstance(f, UrlField) else None)
        bad = any(f.message.value for f in self.fields)
        inputs = self.values()
        found = self.problems_of(inputs)
        for field, text in found:
            if field is not None:
                field.show_problem(text)
        self.show_leftovers([text for field, text in found if field is None])
        return None if bad or found else inputs

    def problems_of(self, inputs: dict[str, Any]) -> list[tuple[Field | None, str]]:
        """What the client would refuse in `inputs`, in the form's words, with the field it concerns."""
        try:
            prepare_inputs(self.app, inputs, self._family())
        except ValidationError as exc:
            by_name = {f.param.name: f for f in self.fields}
            return [(by_name.get(str(p.get("field"))), form_advice(p)) if isinstance(p, dict)
                    else (None, str(p)) for p in exc.details or [str(exc.message)]]
        return []

    def show_leftovers(self, texts: list[str]) -> None:
        """Problems no field owns, under the buttons."""
        self.problems.value = "".join(f"<div style='color:#cf222e'>{esc(t)}</div>" for t in texts)

    def _family(self) -> str:
        try:
            return (self.client or session.current_client()).api
        except LaminaError:
            return "v1"

    # -- running -------------------------------------------------------------------------------
    def _clicked(self, _button: Any = None) -> None:
        if self.task is not None and not self.task.done():
            return
        if self.sweeper.active:
            self.sweeper.run()
            return
        inputs = self.validate()
        if inputs is None:
            self.status.value = FIX_FIELDS
            return
        self.launch(self._execute(inputs))

    def launch(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run `coro` (the run or a sweep) on the forms' worker loop; the kernel stays free."""
        self.run_button.disabled = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # plain Python, no kernel loop: nothing else to keep responsive
            self.task = None
            asyncio.run(coro)
            return
        worker = kernel_ui.worker_loop(loop)
        self.task = asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, worker), loop=loop)

    async def finished(self) -> Run | None:
        """Wait for the run or sweep in flight (if any) and return the last run (a sweep's result is
        `form.sweep_result`)."""
        if self.task is not None:
            await asyncio.shield(self.task)
        kernel_ui.pump()  # updates posted just before the run ended
        return self.last_run

    async def _execute(self, inputs: dict[str, Any]) -> Run | None:
        self._started, self._rendered, self._outcome = time.monotonic(), {}, "error"
        self._show(self.outputs, "")
        self._show(self.problems, "")
        self._show(self.status, "starting…")
        ticker = asyncio.ensure_future(self._tick())
        run: Run | None = None
        try:
            async with session.async_client(self.client) as ac:
                for f in self.fields:
                    picked = f.upload() if isinstance(f, UrlField) else None
                    if picked is not None:
                        inputs[self._names[id(f)]] = await ac.upload(picked[1], filename=picked[0])
                run = await ac.start(self.app, inputs)
                await self._on_update(run)
                run = await ac.wait(run, on_update=self._on_update)
            await self._on_update(run)
        except LaminaError as exc:
            self._failed(exc, run)
        except asyncio.CancelledError:
            which = f" Run {run.id} goes on on the server: `%lamina status {run.id}`." if run else ""
            self._show(self.problems, f"<div style='color:#cf222e'>Stopped waiting.{esc(which)}</div>")
            raise
        finally:
            ticker.cancel()
            kernel_ui.post(lambda: setattr(self.run_button, "disabled", False))
            self._remember(run, inputs)
        return run

    async def _tick(self) -> None:
        """Keep the elapsed time moving between server updates."""
        while True:
            await asyncio.sleep(TICK)
            if self.last_run is not None and not self.last_run.is_done:
                self._show_status(self.last_run)

    def _elapsed(self) -> float:
        return time.monotonic() - self._started

    @staticmethod
    def _show(widget: W.HTML, value: str) -> None:
        """Set a widget's value on the kernel thread (the run itself works on the worker loop)."""
        kernel_ui.post(lambda: setattr(widget, "value", value))

    def _show_status(self, run: Run) -> None:
        self._show(self.status, status_html(run, self._elapsed(), self.app.name))

    async def _on_update(self, run: Run) -> None:
        """New run state: status line, then any output that finished since the last update."""
        self.last_run = run
        self.refine_box.show(run)
        self._show_status(run)
        for index, out in enumerate(run.outputs):
            finished = out.status in ("completed", "failed") or out.error is not None
            if index in self._rendered or not finished:
                continue
            self._rendered[index] = await asyncio.to_thread(output_html, out)
            self._show(self.outputs, "".join(self._rendered[i] for i in sorted(self._rendered)))
        if run.status in ("failed", "cancelled"):
            self._show(self.problems, (
                f"<div style='color:#cf222e'>Run <code>{esc(run.id)}</code> {esc(run.status)}: "
                f"{esc(run.error_message or 'no reason given')}. Change the inputs and press Run again; "
                f"<code>%lamina status {esc(run.id)}</code> shows the details.</div>"))

    def _failed(self, exc: LaminaError, run: Run | None) -> None:
        where = f" (run <code>{esc(run.id)}</code>)" if run is not None else ""
        self._outcome = "uncertain" if isinstance(exc, UncertainStartError) else "error"  # it may exist
        self._show(self.status, f"<span style='color:#cf222e;font-weight:600'>{self._outcome}</span>{where}")
        self._show(self.problems, f"<div style='color:#cf222e;white-space:pre-wrap'>{esc(exc.message)}</div>")

    def _remember(self, run: Run | None, inputs: dict[str, Any]) -> None:
        shown = ", ".join(f"{k}={str(v)[:30]!r}" for k, v in inputs.items() if isinstance(v, str))
        self.log(run.id if run else None, run.status if run else self._outcome, shown)

    def log(self, run_id: str | None, status: str, inputs: str) -> None:
        """One line in "Last runs" (a run, or a sweep with its counts)."""
        self.runs.appendleft({"run_id": run_id, "status": status, "seconds": round(self._elapsed(), 1),
                              "inputs": inputs})
        items = "".join(f"<li><code>{esc(r['run_id'] or '—')}</code> {esc(r['status'])} · {r['seconds']} s · "
                        f"{esc(r['inputs'])}</li>" for r in self.runs)
        self._show(self.history, f"<details><summary>Last runs</summary><ul>{items}</ul></details>")

    def _show_code(self, _button: Any = None) -> None:
        described = {self._names[id(f)]: f.describe() for f in self.fields if f.value() is not None}
        plan = self.sweeper.plan() if self.sweeper.active else None
        if plan is not None:  # single values as swept; a URL field's own description (a picked file's path)
            described = {n: described[n] if isinstance(f, UrlField) else plan.constants[n]
                         for f in self.fields if (n := self._names[id(f)]) in plan.constants}
        if plan is not None and plan.count > 1 and plan.swept():
            code = esc(sweep_code(self.app, plan, described))
        else:
            code = esc(code_for(self.app, described))
        self.code.value = f"<pre class='lamina-code' style='user-select:all'>{code}</pre>"


def form(app: App | str, client: Client | None = None, values: Any = None) -> Form:
    """A form widget for `app` (an App, id or name) using `client` or the kernel's current client;
    `values` (a dict or a DataFrame row) pre-fills it (form_batch.py)."""
    source = client or session.current_client()
    built = Form(source.get_app(app), client)
    if values is not None:
        prefill(built, values)
    return built
