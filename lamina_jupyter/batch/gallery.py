"""Gallery and download for fan-out results.

Thumbnails are fetched in the kernel (media URLs are public, like a CDN: no key is sent), shrunk
with Pillow and embedded as small JPEG data URIs, so a saved notebook stays small and renders
offline; each links to the full media. Every label, URL and text output is HTML-escaped, and only
http(s) URLs are fetched or linked. Thumbnails and the
URL check are media's, so a gallery tile and a run view embed the same way.
"""

from __future__ import annotations

import html
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..core.models import read_media
from ..notebook.media import safe_link, thumbnail_data_uri
from .filenames import Namer
from .manifest import write_download_manifest

MAX_MEDIA_BYTES = 50 * 1024 * 1024
THREADS = 8


def fetch(http: Any, url: str, max_bytes: int = MAX_MEDIA_BYTES) -> tuple[bytes, str | None]:
    """GET a public media URL with a size cap; returns (bytes, content type)."""
    if not safe_link(url):
        raise ValueError("only http(s) URLs are fetched")
    with http.stream("GET", url) as resp:
        resp.raise_for_status()
        return read_media(resp, url, max_bytes), resp.headers.get("content-type")


def _http() -> Any:
    import httpx

    return httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0, pool=30.0), follow_redirects=True)


def _output_info(df: Any) -> list[dict[str, Any]]:
    info = df.attrs.get("lamina", {}) if isinstance(getattr(df, "attrs", None), dict) else {}
    outs = [o for o in info.get("outputs", []) if o.get("column") in df.columns]
    if outs:
        return outs
    guessed = []
    for col in df.columns:  # attrs lost (e.g. after concat): any column holding URLs counts as media
        if not str(col).startswith("lamina_") and df[col].map(lambda v: safe_link(v) is not None).any():
            guessed.append({"column": col, "label": str(col), "type": "image"})
    return guessed


class Gallery:
    """An HTML grid of thumbnails; shows itself in Jupyter (text/html + text/plain)."""

    def __init__(self, html_text: str, tiles: int, skipped: int) -> None:
        self.html, self.tiles, self.skipped = html_text, tiles, skipped

    def _repr_html_(self) -> str:
        return self.html

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/html": self.html, "text/plain": repr(self)}

    def __repr__(self) -> str:
        more = f", {self.skipped} more not shown (raise max_images)" if self.skipped else ""
        return f"<Gallery of {self.tiles} tile(s){more}>"


def _tile(cell: Any, kind: str, caption: str, thumb: str | None, problem: str | None, width: int) -> str:
    esc = html.escape
    style = f"display:inline-block;vertical-align:top;margin:4px;width:{width}px;font:12px sans-serif"
    if kind == "text" and cell is not None and not safe_link(cell):
        body = f"<div style='border:1px solid #ddd;padding:4px;white-space:pre-wrap'>{esc(str(cell))}</div>"
    elif thumb:
        body = (
            f"<a href='{esc(cell, quote=True)}' target='_blank' rel='noopener noreferrer'>"
            f"<img src='{esc(thumb, quote=True)}' style='max-width:100%'></a>"
        )
    else:
        shown = esc(str(cell)) if cell is not None else "no output"
        body = (
            f"<div style='border:1px dashed #c00;padding:4px;color:#900'>{esc(problem or 'no image')}"
            f"<br><small>{shown}</small></div>"
        )
    return f"<figure style='{style}'>{body}<figcaption>{esc(caption)}</figcaption></figure>"


def _present(value: Any) -> Any:
    """The cell's value, or None for a missing one (pandas fills a failed row's outputs with NaN)."""
    return None if isinstance(value, float) and value != value else value


def gallery(
    df: Any,
    columns: list[str] | str | None = None,
    by: list[str] | str | None = None,
    max_images: int = 48,
    thumb: int = 256,
) -> Gallery:
    outs = _output_info(df)
    if columns is not None:
        wanted = [columns] if isinstance(columns, str) else list(columns)
        missing = [c for c in wanted if c not in df.columns]
        if missing:
            raise ValueError(
                f"gallery(columns=...) names {missing}, not columns of the frame: {list(df.columns)}"
            )
        known = {o["column"]: o for o in outs}
        outs = [known.get(c, {"column": c, "label": str(c), "type": "image"}) for c in wanted]
    else:
        outs = [o for o in outs if o.get("type") != "text"]
    if not outs:
        raise ValueError(
            "This frame has no outputs to show: gallery() shows the media columns of a df.lamina.run(...) "
            "result (its metadata is lost by some pandas operations). Run the batch first, or name the "
            f"columns that hold media URLs: gallery(columns=[...]); this frame has {list(df.columns)}."
        )
    info = df.attrs.get("lamina", {})
    labels = (
        [by] if isinstance(by, str) else list(by) if by is not None else info.get("input_columns", [])[:2]
    )
    labels = [c for c in labels if c in df.columns]
    cells = []
    for position, (index, row) in enumerate(df.iterrows()):
        for o in outs:
            caption = " · ".join(f"{row[c]}" for c in labels) or f"{index}"
            cells.append(
                (
                    position,
                    index,
                    _present(row.get(o["column"])),
                    o.get("type", "image"),
                    f"{caption} — {o['label']}" if len(outs) > 1 else caption,
                    _present(row.get("lamina_error")),
                )
            )
    shown, skipped = cells[:max_images], max(0, len(cells) - max_images)

    def thumb_for(cell: tuple[Any, ...]) -> tuple[str | None, str | None]:
        value, kind = cell[2], cell[3]
        if kind == "text" and not safe_link(value):
            return None, None
        if not safe_link(value):
            return None, str(cell[5]) if isinstance(cell[5], str) and cell[5] else "no media URL"
        try:
            data, _ = fetch(http, value)
            return thumbnail_data_uri(data, thumb), None
        except Exception as exc:  # one bad URL becomes a placeholder, never a crash
            return None, f"could not show it: {type(exc).__name__}: {str(exc)[:120]}"

    with _http() as http, ThreadPoolExecutor(THREADS) as pool:
        thumbs = list(pool.map(thumb_for, shown))
    tiles = "".join(_tile(c[2], c[3], c[4], t, p, thumb) for c, (t, p) in zip(shown, thumbs, strict=False))
    note = (
        (
            f"<div style='font:12px sans-serif'>{skipped} more not shown; gallery(max_images=...) shows more"
            "</div>"
        )
        if skipped
        else ""
    )
    return Gallery(f"<div class='lamina-gallery'>{tiles}</div>{note}", len(shown), skipped)


def download(
    df: Any,
    pattern: str = "lamina-output/{index}_{label}.{ext}",
    columns: list[str] | str | None = None,
    overwrite: bool = True,
) -> Any:
    """Save every output (media bytes, or text) to `pattern` (fields: index, position, label, ext,
    run_id) and return a copy of the frame with a `<column>_local_path` column per output. Files go
    only inside the pattern's folder, named as filenames.Namer decides (ext from the bytes)."""
    outs = _output_info(df)
    if columns is not None:
        wanted = [columns] if isinstance(columns, str) else list(columns)
        outs = [o for o in outs if o["column"] in wanted] or [
            {"column": c, "label": str(c), "type": "image"} for c in wanted
        ]
    namer = Namer(pattern)
    jobs = []
    for position, (index, row) in enumerate(df.iterrows()):
        for o in outs:
            value = row.get(o["column"])
            if value is None or (isinstance(value, float) and value != value):
                continue
            name = namer.reserve(index=index, position=position, label=o["label"],
                                 run_id=row.get("lamina_run_id"))
            jobs.append((position, o, value, name))

    def save(job: tuple[Any, ...]) -> tuple[int, str, str]:
        position, o, value, name = job
        data = fetch(http, value)[0] if safe_link(value) else str(value).encode("utf-8")
        path = namer.final(name, data)
        path.parent.mkdir(parents=True, exist_ok=True)
        if overwrite or not path.exists():
            path.write_bytes(data)
        return position, o["column"], os.fspath(path)

    with _http() as http, ThreadPoolExecutor(THREADS) as pool:
        saved = list(pool.map(save, jobs))
    result = df.copy()
    for o in outs:
        result[f"{o['column']}_local_path"] = None
    for position, column, path in saved:
        result.iloc[position, result.columns.get_loc(f"{column}_local_path")] = path
    write_download_manifest(df, saved)
    return result
