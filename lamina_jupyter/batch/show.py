"""`result.lamina.show(thumb=96)`: the result frame as one static HTML table.

Media cells become small embedded JPEG thumbnails linked to the full media, long text is shortened
(the full text stays in the cell's tooltip), so the table renders the same in a saved notebook,
nbconvert and VS Code. Thumbnails are made like the gallery's (media fetched without credentials,
only http(s)); every string from the frame or the server is HTML-escaped.
"""

from __future__ import annotations

import html
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..notebook.media import safe_img_src, safe_link, thumbnail_data_uri
from .gallery import THREADS, _http, _output_info, fetch

TEXT_LIMIT = 80
MAX_ROWS = 50


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def shorten(value: Any, limit: int = TEXT_LIMIT) -> str:
    text = "" if _missing(value) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Table:
    """Static HTML (text/html) with a one-line text/plain twin."""

    def __init__(self, html_text: str, rows: int, columns: int, hidden: int) -> None:
        self.html, self.rows, self.columns, self.hidden = html_text, rows, columns, hidden

    def _repr_html_(self) -> str:
        return self.html

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/html": self.html, "text/plain": repr(self)}

    def __repr__(self) -> str:
        more = f", {self.hidden} more row(s) not shown (raise max_rows)" if self.hidden else ""
        return f"<lamina table of {self.rows} row(s) × {self.columns} column(s){more}>"


def _text_cell(value: Any, limit: int) -> str:
    full = "" if _missing(value) else str(value)
    short = shorten(full, limit)
    title = f" title='{_esc(full)}'" if short != full else ""
    return f"<td{title} style='text-align:left;vertical-align:top'>{_esc(short)}</td>"


def _media_cell(value: Any, thumb: str | None, problem: str | None, side: int) -> str:
    link = safe_link(value)
    if link is None:
        return _text_cell(value, TEXT_LIMIT)
    src = safe_img_src(thumb)
    shown = (f"<img src='{_esc(src)}' style='max-width:{side}px;max-height:{side}px'>" if src
             else f"open <small>({_esc(problem or 'no preview')})</small>")
    return (f"<td style='vertical-align:top'><a href='{_esc(link)}' target='_blank' "
            f"rel='noopener noreferrer'>{shown}</a></td>")


def show(df: Any, thumb: int = 96, max_rows: int = MAX_ROWS, text_limit: int = TEXT_LIMIT) -> Table:
    if not isinstance(thumb, int) or isinstance(thumb, bool) or not 16 <= thumb <= 512:
        raise ValueError(f"thumb is the thumbnail side in pixels (16-512), not {thumb!r}")
    media = {o["column"] for o in _output_info(df) if o.get("type") != "text"}
    shown = df.iloc[:max_rows]
    urls = sorted({v for c in media for v in shown[c] if safe_link(v)})

    def thumbnail(url: str) -> tuple[str | None, str | None]:
        try:
            data, _ = fetch(http, url)
            return thumbnail_data_uri(data, thumb, max_bytes=max(4_000, thumb * thumb // 2)), None
        except Exception as exc:  # one bad URL becomes a link with the reason, never a broken table
            return None, f"{type(exc).__name__}: {str(exc)[:80]}"

    with _http() as http, ThreadPoolExecutor(THREADS) as pool:
        thumbs = dict(zip(urls, pool.map(thumbnail, urls), strict=True))
    head = "".join(f"<th>{_esc(c)}</th>" for c in ["", *df.columns])
    body = []
    for index, row in shown.iterrows():
        cells = [f"<th style='vertical-align:top'>{_esc(index)}</th>"]
        for column in df.columns:
            value = row[column]
            if column in media and safe_link(value):
                made, problem = thumbs[value]
                cells.append(_media_cell(value, made, problem, thumb))
            else:
                cells.append(_text_cell(value, text_limit))
        body.append(f"<tr>{''.join(cells)}</tr>")
    hidden = max(0, len(df) - max_rows)
    note = f"<div style='font:12px sans-serif'>{hidden} more row(s); show(max_rows=...) shows more</div>"
    table = (f"<table class='lamina-table'><thead><tr>{head}</tr></thead>"
             f"<tbody>{''.join(body)}</tbody></table>{note if hidden else ''}")
    return Table(table, len(shown), len(df.columns), hidden)
