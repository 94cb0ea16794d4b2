"""One input widget per app parameter, chosen by a short `widget_for(param)` chain.

Each builder in `BUILDERS` says whether it handles a parameter and builds a `Field`: the input
widget plus its label (required marked with *), description and an inline message line. A field
reports the value to send: None means "not given" (the app's default applies), so an empty box
never sends "" for a parameter the user did not fill.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import ipywidgets as W

from ..core.models import FromServer, Parameter
from .views import esc

_LONG_TEXT = re.compile(r"prompt|description|text|message|caption|story|script|topic", re.I)
_LABEL_STYLE = {"description_width": "140px"}
_WIDE = W.Layout(width="95%")


def _label(param: Parameter) -> str:
    required = param.required and param.default is None
    return f"{param.name} *" if required else param.name


class Field:
    """A parameter's widget with its label, help text and inline message."""

    def __init__(self, param: Parameter, widget: W.Widget, extra: list[W.Widget] | None = None) -> None:
        self.param = param
        self.widget = widget
        self.message = W.HTML("")
        self.message.add_class("lamina-field-message")
        help_text = W.HTML(f"<small style='color:#57606a'>{esc(param.description)}</small>"
                           if param.description else "")
        self.box = W.VBox([widget, *(extra or []), help_text, self.message])
        self.box.add_class("lamina-field")

    def value(self) -> Any:
        """What to send for this parameter; None = not given."""
        value = self.widget.value
        return value if value not in ("", None) else None

    def set(self, value: Any) -> None:
        self.widget.value = value

    def show_problem(self, text: str | None) -> None:
        self.message.value = f"<span style='color:#cf222e'>{esc(text)}</span>" if text else ""

    def describe(self) -> Any:
        """The value as it would appear in equivalent Python code."""
        return self.value()

    # -- several values (the form's sweep mode, form_sweep.py) ----------------------------------
    many: W.Widget | None = None  # the several-values widget, built when sweep mode first turns on

    def _build_many(self) -> W.Widget | None:
        """The widget taking several values; None for kinds that stay single (URLs and files)."""
        return None

    def _read_many(self) -> list[Any]:
        return []

    def _as_many(self, value: Any) -> Any:
        """The several-values widget's value that stands for `value` alone."""
        return value

    def sweeping(self, on: bool) -> W.Widget | None:
        """Show the several-values widget (seeded with the current value when empty) or the single one
        again (given the first of the values, unless the widget still holds just the single value: a
        prompt of several lines seeds several lines, and must come back whole); returns the
        several-values widget, None if single-only."""
        if self.many is None:
            self.many = self._build_many()
        if self.many is None:
            return None
        single = self.value()
        if on and not self._read_many() and single is not None:
            self.many.value = self._as_many(single)
        if not on and self._read_many() and (single is None or self.many.value != self._as_many(single)):
            self.set(self._read_many()[0])
        shown = self.many if on else self.widget
        self.box.children = (shown, *self.box.children[1:])
        return self.many

    def values(self) -> list[Any]:
        """Every value to sweep over in sweep mode (distinct, in order), else the value alone; [] = none."""
        if self.many is not None and self.box.children[0] is self.many:
            return list(dict.fromkeys(self._read_many()))
        value = self.value()
        return [] if value is None else [value]


class OptionsField(Field):
    """A Dropdown of the option labels, with an empty choice only when there is no default."""

    def __init__(self, param: Parameter) -> None:
        options: list[Any] = list(param.options)
        default = param.default if param.default in options else None
        if default is None:
            options = [("— choose —", None), *[(o, o) for o in options]]
        dropdown = W.Dropdown(options=options, value=default, description=_label(param), style=_LABEL_STYLE)
        super().__init__(param, dropdown)

    def _build_many(self) -> W.Widget:
        options = list(self.param.options)
        return W.SelectMultiple(options=options, value=(), rows=min(len(options), 6),
                                description=_label(self.param), style=_LABEL_STYLE,
                                tooltip="pick several (Ctrl/Cmd-click or Shift-click)")

    def _read_many(self) -> list[Any]:
        return list(self.many.value) if self.many is not None else []

    def _as_many(self, value: Any) -> Any:
        return (value,)


class TextField(Field):
    """Text for short values, Textarea for prompts and other long text."""

    def __init__(self, param: Parameter) -> None:
        long = _LONG_TEXT.search(f"{param.name} {param.key or ''} {param.id or ''}") is not None
        cls = W.Textarea if long else W.Text
        default = param.default if isinstance(param.default, str) else ""
        widget = cls(value=default, description=_label(param), style=_LABEL_STYLE, layout=_WIDE,
                     placeholder=f"{param.name}" + (" (required)" if param.default is None else ""))
        if long:
            widget.layout.height = "70px"
        super().__init__(param, widget)

    def _build_many(self) -> W.Widget:
        return W.Textarea(value="", description=_label(self.param), style=_LABEL_STYLE,
                          layout=W.Layout(width="95%", height="90px"), placeholder="one value per line")

    def _read_many(self) -> list[Any]:
        text = self.many.value if self.many is not None else ""
        return [line for line in text.splitlines() if line.strip()]  # blank lines are no value

    def _as_many(self, value: Any) -> Any:
        return str(value)


class UrlField(Field):
    """An http(s) URL or a local path typed in, or a file picked; files are uploaded before the run.

    The app's default is shown but never read from disk: it came from the server, so while the box
    still holds it the field sends nothing (the server applies its own default) unless it is a URL."""

    def __init__(self, param: Parameter) -> None:
        default = param.default if isinstance(param.default, str) else ""
        self.server_default = default.strip()
        self.server_text: str | None = None  # a prefilled value that came from the server
        text = W.Text(value=default, description=_label(param), style=_LABEL_STYLE, layout=_WIDE,
                      placeholder="https://… or a local file path")
        accept = ",".join(f"{a}/*" if "/" not in a and not a.startswith(".") else a for a in param.accept)
        self.picker = W.FileUpload(accept=accept, multiple=False, description="or pick a file")
        super().__init__(param, text, [self.picker])
        text.observe(self._check, names="value")
        self.picker.observe(self._picked, names="value")

    def set(self, value: Any) -> None:
        """Prefill; text from a result frame's outputs (FromServer) stays server data while it is shown."""
        self.server_text = value.strip() if isinstance(value, FromServer) else None
        super().set(str(value))

    def _check(self, change: Any = None) -> None:
        self.show_problem(self.problem())

    def _picked(self, change: Any) -> None:
        if self.upload() is not None:
            self.show_problem(None)

    def problem(self) -> str | None:
        value = self.widget.value.strip()
        if not value or self.upload() is not None or value.startswith(("http://", "https://")):
            return None
        if value == self.server_default:
            return None  # sent as nothing: the server applies its own default
        if os.path.isfile(os.path.expanduser(value)):
            return None
        return f"{value[:80]!r} is neither an http(s) URL nor an existing file; paste a URL or pick a file"

    def upload(self) -> tuple[str, bytes] | None:
        """(filename, bytes) of the picked file, if any."""
        picked = self.picker.value
        if not picked:
            return None
        item = picked[0]
        return str(item["name"]), bytes(item["content"])

    def value(self) -> Any:
        picked = self.upload()
        if picked is not None:
            return picked[1]
        value = self.widget.value.strip()
        if value == self.server_default and not value.startswith(("http://", "https://")):
            return None  # the server's text, not a path the user chose: never read from disk
        if value and value == self.server_text:
            return FromServer(value)  # prepare_inputs refuses it as a path (and says why)
        if value and not value.startswith(("http://", "https://")):
            return os.path.expanduser(value)  # a local path the user typed: the client uploads it
        return value or None

    def describe(self) -> Any:
        picked = self.upload()
        return f"path/to/{picked[0]}" if picked else self.value()


Builder = tuple[Callable[[Parameter], bool], Callable[[Parameter], Field]]
BUILDERS: list[Builder] = [
    (lambda p: bool(p.options), OptionsField),
    (lambda p: p.type == "url", UrlField),
    (lambda p: True, TextField),
]


def widget_for(param: Parameter) -> Field:
    """The first builder that accepts the parameter builds its field."""
    build = next(build for accepts, build in BUILDERS if accepts(param))  # the last accepts everything
    return build(param)
