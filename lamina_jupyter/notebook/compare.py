"""Side by side: runs, result rows or versions as columns, the inputs that differ highlighted.

    lamina_jupyter.compare(run_a, run_b)           # runs
    lamina_jupyter.compare(result.loc[[0, 3]])     # rows of a result frame (or result.loc[0], ...)
    lamina_jupyter.compare(*refined.versions)      # versions of one run
    versions_view(refined)                         # the same as a before/after view

Static HTML (thumbnails embedded as in run views, every string escaped) plus a text/plain twin.
"""

from __future__ import annotations

import mimetypes
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..core.models import Output, Run
from ..core.redact import redact
from ..core.refine import RunVersion
from .media import safe_link
from .views import esc, output_text, outputs_html

HIGHLIGHT = "background:#fff3b0"
_TD = "border:1px solid #ddd;padding:4px;vertical-align:top;font:12px sans-serif"
_MISSING = object()


@dataclass
class Column:
    title: str
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: list[Output] = field(default_factory=list)
    status: str | None = None
    error: str | None = None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def cell_output(label: str, kind: str | None, value: Any) -> Output:
    """A result-frame cell as an Output, typed from the URL's extension when the frame does not say."""
    mime = mimetypes.guess_type(urlsplit(value).path)[0] if safe_link(value) else "text/plain"
    return Output(id=None, label=label, type=kind or ("text" if mime == "text/plain" else "image"),
                  value=value, status="completed", mime_type=mime)


def _from_row(label: Any, row: Any) -> Column:
    info = row.attrs.get("lamina") if isinstance(row.attrs.get("lamina"), dict) else {}
    specs = info.get("outputs") or [{"column": c, "label": str(c), "type": None} for c in row.index
                                    if safe_link(row[c]) and not str(c).startswith("lamina_")]
    taken = {s["column"] for s in specs}
    names = [c for c in row.index if c not in taken and not str(c).startswith("lamina_")]
    outputs = [cell_output(s["label"], s.get("type"), row[s["column"]]) for s in specs
               if s["column"] in row.index and not _blank(row[s["column"]])]
    error = row.get("lamina_error")
    return Column(f"row {label}", {str(c): row[c] for c in names}, outputs, row.get("lamina_status"),
                  error if isinstance(error, str) else None)


def _from_version(version: RunVersion) -> Column:
    title = f"v{version.number}" + (" (original)" if version.number == 1 else "")
    return Column(title, {"feedback": version.feedback or "(none)"}, list(version.outputs), "completed")


def columns_of(item: Any) -> list[Column]:
    """What one argument of compare() contributes: a Run, a RunVersion, a result row or rows, or a
    list of any of these."""
    pd = sys.modules.get("pandas")
    if isinstance(item, Run):
        inputs = item.raw.get("inputs")
        return [Column(f"run {item.id}", dict(inputs) if isinstance(inputs, dict) else {}, list(item.outputs),
                       item.status, item.error_message)]
    if isinstance(item, RunVersion):
        return [_from_version(item)]
    if pd is not None and isinstance(item, pd.DataFrame):
        return [_from_row(label, row) for label, row in item.iterrows()]
    if pd is not None and isinstance(item, pd.Series):
        return [_from_row(item.name, item)]
    if isinstance(item, (list, tuple)):
        return [c for part in item for c in columns_of(part)]
    raise TypeError(f"compare() takes runs, run versions or result-frame rows, not {type(item).__name__}")


def _differs(columns: list[Column], key: str) -> bool:
    return len({repr(c.inputs.get(key, _MISSING)) for c in columns}) > 1


class Comparison:
    """Columns side by side; shows itself in Jupyter (text/html + text/plain)."""

    def __init__(self, columns: list[Column]) -> None:
        if len(columns) < 1:
            raise ValueError("compare() needs at least one run, version or row")
        self.columns = columns
        keys = list(dict.fromkeys(k for c in columns for k in c.inputs))
        self.differing = [k for k in keys if _differs(columns, k)]
        self.keys = keys

    def _html(self) -> str:
        cols = self.columns
        with ThreadPoolExecutor(max_workers=min(8, len(cols))) as pool:
            shown = list(pool.map(lambda c: outputs_html(c.outputs), cols))
        head = "".join(f"<th style='{_TD}'>{esc(c.title)}</th>" for c in cols)
        rows = []
        for key in self.keys:
            mark = f";{HIGHLIGHT}" if key in self.differing else ""
            cells = "".join(f"<td style='{_TD}{mark}'>{esc(_shown(c.inputs.get(key, _MISSING)))}</td>"
                            for c in cols)
            rows.append(f"<tr><th style='{_TD}{mark}'>{esc(key)}</th>{cells}</tr>")
        status = "".join(f"<td style='{_TD}'>{esc(c.status)}{': ' + esc(c.error) if c.error else ''}</td>"
                         for c in cols)
        outputs = "".join(f"<td style='{_TD}'>{html}</td>" for html in shown)
        note = (f"<div style='font:12px sans-serif'>Highlighted: {esc(', '.join(self.differing))} differ"
                "</div>" if self.differing else "")
        return (f"<div class='lamina-compare'>{note}<table style='border-collapse:collapse'><tr><th></th>"
                f"{head}</tr>{''.join(rows)}<tr><th style='{_TD}'>status</th>{status}</tr>"
                f"<tr><th style='{_TD}'>outputs</th>{outputs}</tr></table></div>")

    def _text(self) -> str:
        lines = [" | ".join(c.title for c in self.columns)]
        for key in self.keys:
            star = "  * differs" if key in self.differing else ""
            lines.append(f"{key}: " + " | ".join(_shown(c.inputs.get(key, _MISSING)) for c in self.columns)
                         + star)
        for c in self.columns:
            lines.append(f"[{c.title}] {c.status or ''}" + (f": {c.error}" if c.error else ""))
            lines += [f"  {output_text(o)}" for o in c.outputs]
        return redact("\n".join(lines))

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/html": self._html(), "text/plain": self._text()}

    def __repr__(self) -> str:
        return self._text()


def _shown(value: Any) -> str:
    return "(missing)" if value is _MISSING else "(none)" if _blank(value) else str(value)


def compare(*items: Any) -> Comparison:
    """Runs, versions or result rows side by side, the inputs that differ highlighted."""
    return Comparison([c for item in items for c in columns_of(item)])


def versions_view(run: Run | Iterable[RunVersion]) -> Comparison:
    """A refined run's versions side by side: before (the original) and after each refinement."""
    versions = list(run.versions if isinstance(run, Run) else run)
    if not versions:
        raise ValueError("this run has no versions yet: refine it first (client.refine(run, feedback)); "
                         "the refined run it returns carries them")
    columns = [_from_version(v) for v in versions]
    if len(columns) == 2:
        columns[0].title, columns[1].title = "before", f"after: {versions[1].feedback or 'refined'}"
    return Comparison(columns)
