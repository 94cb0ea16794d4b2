"""Rich notebook views of App, Run and Output (text/html + text/plain), kept safe and small.

Safety: API text is untrusted (an HTML payload in a saved output could drive the Jupyter server), so
every string is HTML-escaped; media limits <img> sources and links to safe schemes, never
inlines remote HTML or SVG, and embeds images as small thumbnails linked to the full-size media.
The models stay free of display code: `register(ip)` attaches these views through IPython's
formatters, and the view classes work anywhere.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..core.models import App, Output, Run
from ..core.redact import redact
from .media import THUMB_SIDE, embed_src, safe_img_src, safe_link

MAX_SHOWN_OUTPUTS = 100  # a run view shows (and fetches) at most one page: 100 x THUMB_BYTES ~ 1.8 MB
_STATUS_COLOURS = {"completed": "#1a7f37", "failed": "#cf222e", "cancelled": "#6e7781",
                   "running": "#0969da", "queued": "#9a6700", "pending": "#9a6700"}


def esc(value: Any) -> str:
    """HTML-escaped, key-scrubbed text of any API value."""
    return html.escape(redact("" if value is None else str(value)), quote=True)


def _kind(output: Output) -> str:
    mime = (output.mime_type or "").lower()
    if mime.startswith("image/") or output.type == "image":
        return "image"
    if mime.startswith("video/") or output.type == "video":
        return "video"
    return "media" if output.is_media else "text"


def output_html(output: Output) -> str:
    """One output as HTML: thumbnail linked to the full media, a video player, or escaped text."""
    label = f"<div style='font-weight:600'>{esc(output.label or output.id or 'output')}</div>"
    if output.status == "failed" or output.error:
        return (f"<div class='lamina-output'>{label}<div style='color:#cf222e'>failed: "
                f"{esc(output.error or 'no reason given')}</div></div>")
    if output.value is None:
        return f"<div class='lamina-output'>{label}<i>{esc(output.status or 'pending')}…</i></div>"
    link = safe_link(output.value)
    kind = _kind(output)
    if kind == "text" or not link:
        text = esc(output.value)
        return f"<div class='lamina-output'>{label}<pre style='white-space:pre-wrap'>{text}</pre></div>"
    if kind == "image":
        try:
            src = safe_img_src(embed_src(output))
        except Exception as exc:  # any fetch/decode problem becomes a link, never a crash of the view
            why = str(exc)[:160] if isinstance(exc, ValueError) else type(exc).__name__
            return (f"<div class='lamina-output'>{label}<a href='{esc(link)}' target='_blank' rel='noopener'>"
                    f"open image</a> <small>(no preview: {esc(why)})</small></div>")
        return (f"<div class='lamina-output' style='display:inline-block;margin:4px'>{label}"
                f"<a href='{esc(link)}' target='_blank' rel='noopener' title='open full size'>"
                f"<img class='lamina-image' src='{esc(src)}' style='max-width:{THUMB_SIDE}px' "
                f"alt='{esc(output.label)}'/></a></div>")
    if kind == "video":
        return (f"<div class='lamina-output'>{label}<video controls preload='metadata' "
                f"style='max-width:320px' src='{esc(link)}'></video><br><a href='{esc(link)}' "
                "target='_blank' rel='noopener'>download</a></div>")
    return (f"<div class='lamina-output'>{label}<a href='{esc(link)}' target='_blank' rel='noopener'>open</a>"
            "</div>")


def outputs_html(outputs: Sequence[Output]) -> str:
    """Several outputs, their media fetched in parallel (a page of images should not take N round trips)."""
    if len(outputs) <= 1:
        return "".join(output_html(o) for o in outputs)
    with ThreadPoolExecutor(max_workers=min(8, len(outputs))) as pool:
        return "".join(pool.map(output_html, outputs))


def output_text(output: Output) -> str:
    name = output.label or output.id or "output"
    if output.status == "failed" or output.error:
        return f"{name}: failed: {redact(str(output.error or 'no reason given'))}"
    shown = redact(str(output.value)) if output.value is not None else (output.status or "pending")
    return f"{name}: {shown}"


def percent(run: Run) -> float | None:
    p = run.progress
    if p is None:
        return None
    if p.percent_complete is not None:
        return float(p.percent_complete)
    if p.total_outputs:
        return 100.0 * (p.completed_outputs or 0) / p.total_outputs
    return None


def status_html(run: Run, elapsed: float | None = None, app_name: str | None = None) -> str:
    """One status line: app, run id, coloured state, percent, elapsed and the error if any."""
    colour = _STATUS_COLOURS.get(run.status, "#57606a")
    bits = [f"<b>{esc(app_name)}</b>" if app_name else "",
            f"run <code>{esc(run.id)}</code>",
            f"<span class='lamina-status' style='color:{colour};font-weight:600'>{esc(run.status)}</span>"]
    pct = percent(run)
    if pct is not None and not run.is_done:
        bits.append(f"{pct:.0f}%")
    if elapsed is not None:
        bits.append(f"{elapsed:.1f} s")
    line = " · ".join(b for b in bits if b)
    if run.error_message:
        line += f"<div style='color:#cf222e'>{esc(run.error_message)}</div>"
    return f"<div class='lamina-run-status'>{line}</div>"


def status_text(run: Run, elapsed: float | None = None, app_name: str | None = None) -> str:
    pct = percent(run)
    parts = [app_name or "", f"run {run.id}", run.status,
             f"{pct:.0f}%" if pct is not None and not run.is_done else "",
             f"{elapsed:.1f} s" if elapsed is not None else ""]
    line = " · ".join(p for p in parts if p)
    return line + (f"\n  error: {redact(run.error_message)}" if run.error_message else "")


class RunStatus:
    """The live one-line status of a run in flight (no media fetched)."""

    def __init__(self, run: Run, elapsed: float | None = None, app_name: str | None = None) -> None:
        self.run, self.elapsed, self.app_name = run, elapsed, app_name

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/html": status_html(self.run, self.elapsed, self.app_name),
                "text/plain": status_text(self.run, self.elapsed, self.app_name)}


class RunView:
    """A run with its outputs: thumbnails linked to full size, text escaped, failures explained. Only
    the first MAX_SHOWN_OUTPUTS are shown (each may cost a media fetch), with a note on the rest."""

    def __init__(self, run: Run, elapsed: float | None = None, app_name: str | None = None) -> None:
        self.run, self.elapsed, self.app_name = run, elapsed, app_name

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        run = self.run
        hint = ""
        if run.status in ("failed", "cancelled"):
            hint = (f"<div><small>Inspect it with <code>%lamina status {esc(run.id)}</code>; change the "
                    "inputs before retrying (identical inputs usually fail the same way).</small></div>")
        shown, more = run.outputs[:MAX_SHOWN_OUTPUTS], len(run.outputs) - MAX_SHOWN_OUTPUTS
        rest = (f"{more} more outputs are not shown: run.outputs has all {len(run.outputs)}; display one "
                f"with run.outputs[{MAX_SHOWN_OUTPUTS}] or run.output(label)") if more > 0 else ""
        body = (f"<div class='lamina-run'>{status_html(run, self.elapsed, self.app_name)}{hint}"
                f"<div>{outputs_html(shown)}</div>"
                + (f"<div><small>{esc(rest)}</small></div>" if rest else "") + "</div>")
        text = "\n".join([status_text(run, self.elapsed, self.app_name)]
                         + [f"  {output_text(o)}" for o in shown] + ([f"  {rest}"] if rest else []))
        return {"text/html": body, "text/plain": text}


class OutputView:
    def __init__(self, output: Output) -> None:
        self.output = output

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/html": output_html(self.output), "text/plain": output_text(self.output)}


def _param_summary(app: App) -> str:
    if not app.parameters:
        return "" if not app.has_details else "(none)"
    return ", ".join(p.name + ("*" if p.required and p.default is None else "") for p in app.parameters)


class AppView:
    """An app: name, id, description and its parameters (* = required, no default)."""

    def __init__(self, app: App) -> None:
        self.app = app

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        a = self.app
        rows = "".join(
            f"<tr><td>{esc(p.name)}{'*' if p.required and p.default is None else ''}</td>"
            f"<td>{esc(p.type)}</td>"
            f"<td>{esc(', '.join(p.options))}</td><td>{esc(p.default)}</td><td>{esc(p.description)}</td></tr>"
            for p in a.parameters)
        table = ("<table><tr><th>parameter</th><th>type</th><th>options</th><th>default</th>"
                 f"<th>description</th></tr>{rows}</table>") if rows else ""
        html_ = (f"<div class='lamina-app'><b>{esc(a.name)}</b> <code>{esc(a.id)}</code>"
                 f"<div>{esc(a.description)}</div>{table}</div>")
        lines = [f"{a.name} ({a.id})", f"  {a.description or ''}"]
        lines += [f"  - {p.name} [{p.type}]" + (f" one of {list(p.options)}" if p.options else "")
                  + (f" default {p.default!r}" if p.default is not None else " (required)")
                  for p in a.parameters]
        return {"text/html": html_, "text/plain": redact("\n".join(lines))}


class AppTable:
    """A table of apps for `%lamina apps`: name, id, description, parameters."""

    def __init__(self, apps: Iterable[App]) -> None:
        self.apps = list(apps)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        if not self.apps:
            msg = "No apps matched. Try `%lamina apps` without a search word."
            return {"text/html": f"<i>{esc(msg)}</i>", "text/plain": msg}
        rows = "".join(f"<tr><td>{esc(a.name)}</td><td><code>{esc(a.id)}</code></td><td>{esc(a.description)}"
                       f"</td><td>{esc(_param_summary(a))}</td></tr>" for a in self.apps)
        html_ = ("<table class='lamina-apps'><tr><th>name</th><th>id</th><th>description</th>"
                 f"<th>parameters (* required)</th></tr>{rows}</table>")
        width = max(len(a.name) for a in self.apps)
        lines = [f"{a.name:<{width}}  {a.id}  {a.description or ''}  [{_param_summary(a)}]"
                 for a in self.apps]
        return {"text/html": html_, "text/plain": redact("\n".join(lines))}


class Banner:
    """A short coloured notice (demo mode, login) with a plain-text twin."""

    def __init__(self, text: str, colour: str = "#0969da") -> None:
        self.text, self.colour = text, colour

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/html": f"<div style='border-left:4px solid {self.colour};padding:4px 8px'>"
                             f"{esc(self.text)}</div>",
                "text/plain": redact(self.text)}


_SHOWN: dict[int, int] = {}  # id(run) -> execution count in which the magic already displayed it


def mark_shown(run: Run, execution_count: int) -> None:
    """The magic displayed this run in full; its Out[] echo in the same cell is then a one-liner."""
    _SHOWN.clear()
    _SHOWN[id(run)] = execution_count


def register(ip: Any) -> None:
    """Attach the views to IPython's display machinery (the models never import this module)."""
    fmt = ip.display_formatter.mimebundle_formatter

    def run_bundle(run: Run) -> dict[str, str]:
        if _SHOWN.get(id(run)) == getattr(ip, "execution_count", None):
            _SHOWN.clear()  # one echo only; later displays of the same run show it in full
            return {"text/plain": f"<Run {run.id} {run.status}: shown above>"}
        return RunView(run)._repr_mimebundle_()

    fmt.for_type(Run, run_bundle)
    fmt.for_type(App, lambda app: AppView(app)._repr_mimebundle_())
    fmt.for_type(Output, lambda out: OutputView(out)._repr_mimebundle_())
