"""The form's sweep mode: with "Sweep" on, text fields take one value per line and options fields become
a multi-select, the form counts the runs (the product of the values, times Repeat), and Run runs every
combination through the fan-out, then shows the grid under the form (first varied field down, second
across, the rest as panels).

The fan-out is batch/'s, which the notebook layer may not import: the package root registers it in
notebook/hooks.py, and pandas loads when a sweep runs, not when the form is built. The sweep works on
the forms' worker loop like a run (kernel_ui.py), so the kernel stays free. One combination is a plain
run. URL fields keep one value (a picked file or a URL is the same for every run).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from itertools import product
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from ..core.errors import LaminaError
from . import hooks, kernel_ui, session
from .fields import UrlField
from .views import esc

if TYPE_CHECKING:
    from .form import Form

FIX_FIELDS = "<span style='color:#cf222e'>Fix the fields marked above, then Run again.</span>"
MAX_UNCONFIRMED = 100  # more runs than this start only after a second press
CONFIRM_AFTER = 1.0  # seconds: a second press sooner is a double-click, not a confirmation
MAX_REPEAT = 100
_HINT = "one value per line in text fields, several picks in options"


@dataclass
class Plan:
    """What Run would send: `factors` are the fields with several values, `constants` the others."""

    factors: dict[str, list[Any]]
    constants: dict[str, Any]
    repeat: int

    @property
    def count(self) -> int:
        return math.prod(len(v) for v in self.factors.values()) * self.repeat

    def swept(self) -> dict[str, list[Any]]:
        """The factors the fan-out needs: with none varied but a repeat, the first constant is one."""
        if self.factors or self.repeat == 1 or not self.constants:
            return self.factors
        first = next(iter(self.constants))
        return {first: [self.constants[first]]}

    def rows(self) -> list[dict[str, Any]]:
        """Every run's inputs, combination by combination, each `repeat` times."""
        factors = self.swept()
        fixed = {k: v for k, v in self.constants.items() if k not in factors}
        return [fixed | dict(zip(factors, combo, strict=True))
                for combo in product(*factors.values()) for _ in range(self.repeat)]


def sweep_code(app: Any, plan: Plan, described: dict[str, Any]) -> str:
    """The `lamina_jupyter.sweep(...)` call equivalent to Run in sweep mode (`described`: each given
    field's value as code shows it), server strings as `repr` literals only (as form.code_for), then
    the grid laid out as the form shows it."""
    factors = plan.swept()
    constants = {k: v for k, v in described.items() if k not in factors}
    lines = ["import lamina_jupyter", "",
             "# the key comes from LAMINA_API_KEY, .env or ~/.lamina (never paste it here)",
             f"result = lamina_jupyter.sweep({app.id!r}, {{  # {app.name!r}"]
    lines += [f"    {name!r}: {values!r}," for name, values in factors.items()]
    if constants:
        lines.append("}, constants={")
        lines += [f"    {name!r}: {value!r}," for name, value in constants.items()]
    lines.append("}" + (f", repeat={plan.repeat})" if plan.repeat > 1 else ")"))
    names = list(factors)
    layout = [f"rows={names[0]!r}"] + [f"cols={n!r}" for n in names[1:2]]
    layout += [f"by={names[2:] if len(names) > 3 else names[2]!r}"] if len(names) > 2 else []
    lines.append(f"result.lamina.grid({', '.join(layout)})")
    return "\n".join(lines)


class SweepControls:
    """The Sweep toggle, Repeat and the run count above the form's buttons; `result` is the last sweep's
    result frame."""

    def __init__(self, form: Form) -> None:
        self.form = form
        self.toggle = W.ToggleButton(value=False, description="Sweep", icon="th",
                                     tooltip="several values per field: Run runs every combination")
        self.toggle.add_class("lamina-sweep-toggle")
        self.repeat = W.BoundedIntText(value=1, min=1, max=MAX_REPEAT, description="Repeat",
                                       layout=W.Layout(width="150px", display="none"))
        self.count = W.HTML("")
        self.count.add_class("lamina-sweep-count")
        self.result: Any = None
        self._confirmed = 0  # the run count the user was asked to confirm past MAX_UNCONFIRMED
        self._asked_at = 0.0
        self._watched: set[int] = set()
        self.toggle.observe(self._toggled, names="value")
        self.repeat.observe(self._changed, names="value")
        buttons = next(c for c in form.children if isinstance(c, W.HBox) and form.run_button in c.children)
        at = form.children.index(buttons)
        row = W.HBox([self.toggle, self.repeat, self.count])
        form.children = (*form.children[:at], row, *form.children[at:])

    @property
    def active(self) -> bool:
        return bool(self.toggle.value)

    def _toggled(self, change: Any = None) -> None:
        for field in self.form.fields:
            many = field.sweeping(self.active)
            if many is not None and id(many) not in self._watched:
                self._watched.add(id(many))
                many.observe(self._changed, names="value")
        self.repeat.layout.display = None if self.active else "none"
        self._changed()

    def _changed(self, change: Any = None) -> None:
        """Recount and relabel Run; any change asks again before a large sweep."""
        self._confirmed = 0
        button = self.form.run_button
        button.button_style = "primary"
        if not self.active:
            button.description, self.count.value = "Run", ""
            return
        plan = self.plan()
        runs = f"{plan.count} run{'s' if plan.count != 1 else ''}"
        button.description = f"Run sweep ({runs})" if plan.count > 1 else "Run"
        sizes = " × ".join(f"{len(v)} {k}" for k, v in plan.factors.items())
        sizes += f" × repeat {plan.repeat}" if plan.repeat > 1 and sizes else ""
        made = f"{sizes} = {runs}" if sizes else runs
        self.count.value = f"<small>{esc(made)} <span style='color:#57606a'>({_HINT})</span></small>"

    def plan(self) -> Plan:
        """The sweep the fields describe (fields with no value are left out: the app's default applies)."""
        values = {self.form.name_of(f): f.values() for f in self.form.fields}
        return Plan({n: v for n, v in values.items() if len(v) > 1},
                    {n: v[0] for n, v in values.items() if len(v) == 1}, int(self.repeat.value))

    def check(self) -> Plan | None:
        """The plan when the client would take every value; else None, each problem shown on its field
        in the form's words (each value is tried once, beside the first value of every other field)."""
        form, plan = self.form, self.plan()
        for f in form.fields:
            f.show_problem(f.problem() if isinstance(f, UrlField) else None)
        base = {n: v[0] for n, v in plan.factors.items()} | plan.constants
        trials = [base] + [base | {n: one} for n, many in plan.factors.items() for one in many[1:]]
        found = list(dict.fromkeys(p for trial in trials for p in form.problems_of(trial)))
        for field in dict.fromkeys(f for f, _ in found if f is not None):
            field.show_problem(" ".join(t for f, t in found if f is field))
        leftovers = [t for f, t in found if f is None]
        if plan.count > 1 and not plan.swept():
            leftovers.append("Fill in at least one field to repeat a run.")
        form.show_leftovers(leftovers)
        return None if leftovers or any(f.message.value for f in form.fields) else plan

    def run(self) -> None:
        """Run pressed in sweep mode: check, ask once past MAX_UNCONFIRMED runs, then run or sweep."""
        form = self.form
        plan = self.check()
        if plan is None:
            form.status.value = FIX_FIELDS
            return
        if plan.count > MAX_UNCONFIRMED and self._confirmed == plan.count \
                and time.monotonic() - self._asked_at < CONFIRM_AFTER:
            return  # the second click of a double-click: the question stands
        if plan.count > MAX_UNCONFIRMED and self._confirmed != plan.count:
            self._confirmed, self._asked_at = plan.count, time.monotonic()
            form.run_button.description = f"Confirm: {plan.count} runs"
            form.run_button.button_style = "warning"
            form.status.value = (f"<span style='color:#9a6700'>This sweep makes {plan.count} runs (more than "
                                 f"{MAX_UNCONFIRMED}). Press “Confirm: {plan.count} runs” to start them all, "
                                 "or pick fewer values.</span>")
            return
        self._changed()  # a confirmation counts once
        if plan.count == 1:
            form.launch(form._execute(plan.rows()[0]))
        else:
            form.launch(self._sweep(plan))

    async def _sweep(self, plan: Plan) -> None:
        form = self.form
        form._started = time.monotonic()
        for widget in (form.outputs, form.problems):
            form._show(widget, "")
        form._show(form.status, f"starting a sweep of {plan.count} runs…")
        self.result = None
        status = "error"
        try:
            factors = plan.swept()
            constants = {k: v for k, v in plan.constants.items() if k not in factors}
            picked = [(form.name_of(f), f.upload()) for f in form.fields if isinstance(f, UrlField)]
            if any(p for _, p in picked):
                async with session.async_client(form.client) as ac:
                    for name, pick in picked:
                        if pick is not None:
                            constants[name] = await ac.upload(pick[1], filename=pick[0])
            self.result, grid = await hooks.sweep_runner()(
                form.app, factors, constants=constants, repeat=plan.repeat, client=form.client,
                on_progress=lambda page: form._show(form.status, page))
            form._show(form.outputs, grid.html)
            status = ", ".join(f"{n} {k}" for k, n in grid.counts.items() if n) + " cell(s)"
        except LaminaError as exc:
            form._failed(exc, None)
        finally:
            kernel_ui.post(lambda: setattr(form.run_button, "disabled", False))
            form.log(None, f"sweep of {plan.count}: {status}", " × ".join(plan.factors) or "repeat")
