"""Form and DataFrame, both ways: "Add to batch" collects the form's inputs as rows (`form.batch`,
ready for `df.lamina.run(app)`), and `form(app, values=row)` opens a row (a failed one, say)
pre-filled.

A row's keys match the parameters by key, name or id, then ignoring case, spaces, hyphens and
underscores; keys that match nothing (output and lamina_* columns of a result row) are ignored. A
value the form cannot show (an option the app no longer has) is reported on its field, never
dropped silently. pandas is imported only when `form.batch` is read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from .fields import Field, OptionsField

if TYPE_CHECKING:
    from .form import Form


def _fold(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text).casefold()


def field_for(fields: list[Field], given: str) -> Field | None:
    """The field a row key names: exact key/name/id first, then loosely (when only one matches)."""
    spellings = [(f, [s for s in (f.param.key, f.param.name, f.param.id) if s]) for f in fields]
    exact = [f for f, names in spellings if given in names]
    if exact:
        return exact[0]
    loose = [f for f, names in spellings if _fold(given) in {_fold(s) for s in names}]
    return loose[0] if len(loose) == 1 else None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _row_items(values: Any) -> list[tuple[str, Any]]:
    """(key, value) pairs of a dict or a pandas row, renamed by the frame's column mapping if known."""
    if not isinstance(values, Mapping) and not hasattr(values, "items"):
        kind = type(values).__name__
        raise TypeError(f"values= takes a dict or a DataFrame row (df.loc[label]), not {kind}")
    info = getattr(values, "attrs", {}).get("lamina", {}) if hasattr(values, "attrs") else {}
    renamed = info.get("columns", {}) if isinstance(info, dict) else {}
    return [(renamed.get(str(k), str(k)), v) for k, v in values.items()]


def prefill(form: Form, values: Any) -> list[str]:
    """Put a row's values into the form's fields; returns the parameter names filled."""
    filled = []
    for key, value in _row_items(values):
        field = field_for(form.fields, key)
        if field is None or _blank(value):
            continue
        if isinstance(field, OptionsField) and value not in field.param.options:
            field.show_problem(f"{value!r} is not one of the options now; pick one")
            continue
        field.set(value if isinstance(value, str) or isinstance(field, OptionsField) else str(value))
        filled.append(field.param.name)
    return filled


class BatchCollector:
    """The "Add to batch" button: each click validates the form and keeps its inputs as one row."""

    def __init__(self, form: Form) -> None:
        self.form = form
        self.rows: list[dict[str, Any]] = []
        self.button = W.Button(description="Add to batch", icon="plus", tooltip="keep these inputs as a row")
        self.button.add_class("lamina-add-to-batch")
        self.count = W.HTML("")
        self.button.on_click(self.add)
        buttons = next(c for c in form.children if isinstance(c, W.HBox) and form.run_button in c.children)
        buttons.children = (*buttons.children, self.button, self.count)

    def add(self, _button: Any = None) -> list[dict[str, Any]]:
        """Add the form's inputs as a row (in sweep mode, a row per run the sweep would make)."""
        if self.form.sweeper.active:
            plan = self.form.sweeper.check()
            added = plan.rows() if plan is not None else []
        else:
            inputs = self.form.validate()
            added = [dict(inputs)] if inputs is not None else []
        if not added:
            self.count.value = "<span style='color:#cf222e'>Fix the marked fields, then add again.</span>"
            return []
        self.rows += added
        self.count.value = f"<small>{len(self.rows)} row(s) in <code>form.batch</code></small>"
        return added

    def frame(self) -> Any:
        import pandas as pd

        names = list(dict.fromkeys(name for row in self.rows for name in row))
        return pd.DataFrame(self.rows, columns=names)
