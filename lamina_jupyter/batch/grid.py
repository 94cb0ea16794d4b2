"""Any result frame laid out as a labelled matrix: `result.lamina.grid(rows="Prompt", cols="Style")`.

Row and column headers are factor values; a third factor (`by`) gives one panel per value. Each
cell holds the outputs of the rows with those values (several with `repeat`): images as embedded
thumbnails linked to the full media, video as a player and a link, text as text (all through
notebook/views, so a grid cell and a run view render an output the same way and escape every
string). Failed cells say why; combinations with no row say "missing". Static HTML, so the grid
survives a saved notebook and nbconvert.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import product
from typing import Any

from ..core.redact import redact
from ..notebook.compare import cell_output
from ..notebook.media import safe_link
from ..notebook.views import esc, output_html

THREADS = 8
MAX_CELLS = 100  # ~18 kB per thumbnail (notebook/media.py): about 2 MB of saved notebook at most
TEXT_WIDTH = 28
_CELL = "border:1px solid #ddd;padding:4px;vertical-align:top;font:12px sans-serif"
_HEAD = "border:1px solid #ddd;padding:4px;background:#f6f8fa;font:600 12px sans-serif"


def _names(value: str | Sequence[str] | None) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _label(value: Any) -> str:
    return "(none)" if _blank(value) else str(value)


def _outputs_of(df: Any, chosen: str | Sequence[str] | None) -> list[dict[str, Any]]:
    """The output columns to show: named ones, else every output the result frame recorded."""
    info = df.attrs.get("lamina") if isinstance(df.attrs.get("lamina"), dict) else {}
    known = {o["column"]: o for o in info.get("outputs", []) if o.get("column") in df.columns}
    wanted = _names(chosen) or list(known)
    missing = [c for c in wanted if c not in df.columns]
    if missing or not wanted:
        raise ValueError(f"grid(outputs=...) needs output columns of the frame; {missing or 'none'} found. "
                         f"Columns: {list(df.columns)}")
    return [known.get(c, {"column": c, "label": str(c), "type": None}) for c in wanted]


class Grid:
    """The grid's HTML and a plain-text twin; shows itself in Jupyter."""

    def __init__(self, html_text: str, text: str, counts: dict[str, int]) -> None:
        self.html, self.text, self.counts = html_text, text, counts

    def _repr_html_(self) -> str:
        return self.html

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/html": self.html, "text/plain": self.text}

    def __repr__(self) -> str:
        return self.text


class _Layout:
    """Which frame rows fall in which (panel, row, column) cell, in first-appearance order."""

    def __init__(self, df: Any, rows: list[str], cols: list[str], by: list[str]) -> None:
        absent = [c for c in rows + cols + by if c not in df.columns]
        if absent:
            raise ValueError(f"grid() names {absent}, not columns of the frame: {list(df.columns)}")
        self.rows, self.cols, self.by = rows, cols, by
        self.cells: dict[tuple[tuple, tuple, tuple], list[int]] = {}
        order: dict[str, dict[tuple, None]] = {"p": {}, "r": {}, "c": {}}
        for position, record in enumerate(df.to_dict("records")):
            key = tuple(tuple(_label(record[c]) for c in names) for names in (by, rows, cols))
            for part, value in zip("prc", key, strict=True):
                order[part].setdefault(value, None)
            self.cells.setdefault(key, []).append(position)  # type: ignore[arg-type]
        self.panels, self.row_keys, self.col_keys = (list(order[p]) for p in "prc")


def _output_html(spec: dict[str, Any], value: Any, embed: bool) -> str:
    """One output as in a run view, or only a link to the media once the thumbnail budget is spent."""
    link = safe_link(value)
    if embed or not link:
        return output_html(cell_output(spec["label"], spec.get("type"), value))
    return (f"<div class='lamina-output'><a href='{esc(link)}' target='_blank' rel='noopener'>"
            f"{esc(spec['label'])}</a></div>")


def _cell_html(df: Any, positions: list[int], outputs: list[dict[str, Any]],
               embed: bool = True) -> tuple[str, str, str]:
    """(html, text, kind) of one cell: kind is completed, failed, pending or missing."""
    if not positions:
        return "<i style='color:#6e7781'>missing</i>", "missing", "missing"
    parts, texts, kinds = [], [], []
    for position in positions:
        row = df.iloc[position]
        status = str(row.get("lamina_status", "completed"))
        shown = [(o, row.get(o["column"])) for o in outputs]
        shown = [(o, v) for o, v in shown if not _blank(v)]
        if status != "completed" or not shown:
            why = row.get("lamina_error")
            reason = f": {why}" if isinstance(why, str) and why else ""
            kinds.append("failed" if status in ("failed", "error", "cancelled") else "pending")
            parts.append(f"<div style='color:#cf222e'>{esc(status)}{esc(reason)}</div>")
            texts.append(f"{status}{reason}")
            continue
        kinds.append("completed")
        parts.append("".join(_output_html(o, v, embed) for o, v in shown))
        texts.append(" | ".join(str(v) if o.get("type") == "text" else o["label"] for o, v in shown))
    kind = "completed" if all(k == "completed" for k in kinds) else next(k for k in kinds if k != "completed")
    return "".join(parts), redact("; ".join(texts)), kind


def _header(names: list[str], key: tuple) -> str:
    if len(names) > 1:
        return ", ".join(f"{n} = {v}" for n, v in zip(names, key, strict=True))
    return key[0] if key else ""


def _panel_html(layout: _Layout, panel: tuple, rendered: dict, corner: str) -> str:
    head = "".join(f"<th style='{_HEAD}'>{esc(_header(layout.cols, c))}</th>" for c in layout.col_keys)
    body = "".join(
        f"<tr><th style='{_HEAD}'>{esc(_header(layout.rows, r))}</th>"
        + "".join(f"<td style='{_CELL}'>{rendered[(panel, r, c)][0]}</td>" for c in layout.col_keys)
        + "</tr>" for r in layout.row_keys)
    title = f"<h4 style='font:600 13px sans-serif'>{esc(_header(layout.by, panel))}</h4>" if layout.by else ""
    return (f"{title}<table style='border-collapse:collapse'><tr><th style='{_HEAD}'>{esc(corner)}</th>"
            f"{head}</tr>{body}</table>")


def _panel_text(layout: _Layout, panel: tuple, rendered: dict) -> str:
    lines = [f"[{_header(layout.by, panel)}]"] if layout.by else []
    lines.append(" " * 20 + " | " + " | ".join(
        _header(layout.cols, c)[:TEXT_WIDTH].ljust(TEXT_WIDTH) for c in layout.col_keys))
    for r in layout.row_keys:
        cells = [rendered[(panel, r, c)][1][:TEXT_WIDTH].ljust(TEXT_WIDTH) for c in layout.col_keys]
        lines.append(f"{_header(layout.rows, r)[:20]:<20} | " + " | ".join(cells))
    return "\n".join(lines)


def grid(df: Any, rows: str | Sequence[str] | None = None, cols: str | Sequence[str] | None = None,
         by: str | Sequence[str] | None = None, outputs: str | Sequence[str] | None = None,
         max_cells: int = MAX_CELLS) -> Grid:
    """Lay the result frame out as a matrix of its outputs (see the module docstring). Without rows
    and cols, a sweep's factors (else the first two input columns) are the columns, rows and panels.
    Cells after the first `max_cells` link to their media instead of embedding thumbnails."""
    if rows is None and cols is None:
        info = df.attrs.get("lamina") if isinstance(df.attrs.get("lamina"), dict) else {}
        factors = list(info.get("factors") or info.get("input_columns", [])[:2])
        cols, rows = factors[:1], factors[1:2]
        by = factors[2:] if by is None else by
    layout = _Layout(df, _names(rows), _names(cols), _names(by))
    shown = _outputs_of(df, outputs)
    keys = [(p, r, c) for p in layout.panels for r, c in product(layout.row_keys, layout.col_keys)]
    with ThreadPoolExecutor(THREADS) as pool:  # media are fetched in parallel, each once (media cache)
        cells = pool.map(lambda ik: _cell_html(df, layout.cells.get(ik[1], []), shown, ik[0] < max_cells),
                         enumerate(keys))
        rendered = dict(zip(keys, cells, strict=True))
    counts = {k: 0 for k in ("completed", "failed", "pending", "missing")}
    for _, _, kind in rendered.values():
        counts[kind] += 1
    corner = " / ".join(filter(None, [", ".join(layout.rows), ", ".join(layout.cols)]))
    html_text = "".join(_panel_html(layout, p, rendered, corner) for p in layout.panels)
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    title = " × ".join(filter(None, [corner, ", ".join(layout.by)]))
    text = f"Grid {title}: {summary}\n" + "\n".join(_panel_text(layout, p, rendered) for p in layout.panels)
    if len(keys) > max_cells:
        html_text += (f"<div style='font:12px sans-serif'>{len(keys) - max_cells} cell(s) after the first "
                      f"{max_cells} link to their media instead of showing thumbnails (they would make the "
                      "saved notebook large); grid(max_cells=...) embeds more.</div>")
    return Grid(f"<div class='lamina-grid'>{html_text}</div>", redact(text), counts)
