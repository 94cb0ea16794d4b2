"""One aggregate progress display for a DataFrame fan-out.

The fan-out's event loop updates a thread-safe `Tracker`; the kernel thread renders it (an
ipywidgets HTML widget in a kernel, a text line elsewhere), so only the kernel thread touches
widgets. States: waiting (not sent yet: held by the concurrency cap or the rate limit), queued and
running (live, from each run's event stream), completed, failed (failed, uncertain, unknown or
rejected), cancelled. The ETA follows the pace of runs started by this batch (rows reused from the ledger are
not instant finishes) and never promises more than the rate budget allows.
"""

from __future__ import annotations

import html
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .budget import SKIPPED

STATES = ("waiting", "queued", "running", "completed", "failed", "cancelled")  # SKIPPED only when it happens
DONE = ("completed", "failed", "cancelled")
LIVE = ("queued", "running")
REQUESTS_PER_NEW_RUN = 2  # start + the event stream that follows it
BUCKETS = (*STATES, SKIPPED)
CODE = {bucket: code for code, bucket in enumerate(BUCKETS, 1)}  # 0: a row not seen yet


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Tracker:
    """Counts per state, ETA and recent thumbnails; written by the loop, read by the renderer."""

    def __init__(self, total: int, rate_wait: Callable[[], float] = lambda: 0.0, thumbs: int = 8,
                 request_interval: Callable[[], float] = lambda: 0.0) -> None:
        self._lock = threading.Lock()
        self.total = total
        # a byte per row (its bucket's CODE) and counts per bucket, not a dict entry per row (issue 17)
        self._codes = bytearray(total)
        self._counts = dict.fromkeys(BUCKETS, 0)
        self.rate_wait = rate_wait
        self.request_interval = request_interval  # seconds between requests the rate budget allows
        self.credits: Callable[[], str | None] = lambda: None  # the budget's line (budget.py)
        self.t0 = time.monotonic()
        self.finished_at: deque[float] = deque(maxlen=50)
        self.thumbnails: deque[tuple[str, str]] = deque(maxlen=thumbs)
        self.notes: list[str] = []
        self.done = False

    def set(self, position: int, state: str) -> None:
        bucket = (
            state
            if state in STATES or state == SKIPPED
            else ("failed" if state in ("uncertain", "unknown", "error") else "running")
        )
        with self._lock:
            if position >= len(self._codes):
                self._codes.extend(bytes(position + 1 - len(self._codes)))
            code = self._codes[position]
            previous = BUCKETS[code - 1] if code else None
            if previous is not None:
                self._counts[previous] -= 1
            self._counts[bucket] += 1
            self._codes[position] = CODE[bucket]
            if bucket in DONE and previous in LIVE:  # the pace counts runs seen working, not reused rows
                self.finished_at.append(time.monotonic())

    def add_thumbnail(self, caption: str, data_uri: str) -> None:
        with self._lock:
            self.thumbnails.append((caption, data_uri))

    def note(self, text: str) -> None:
        with self._lock:
            self.notes.append(text)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            counts = {b: n for b, n in self._counts.items() if n or b in STATES}
            counts["waiting"] += self.total - sum(self._counts.values())
            finished = list(self.finished_at)
            thumbs = list(self.thumbnails)
            notes = list(self.notes)
        rate_wait = self.rate_wait()
        return {
            "counts": counts,
            "done": sum(counts[s] for s in DONE) + counts.get(SKIPPED, 0),
            "total": self.total,
            "eta": self._eta(counts, finished, rate_wait),
            "elapsed": time.monotonic() - self.t0,
            "rate_wait": rate_wait,
            "credits": self.credits(),
            "thumbnails": thumbs,
            "notes": notes,
        }


    def _eta(self, counts: dict[str, int], finished: list[float], rate_wait: float) -> float | None:
        """Rows left at the recent pace of finishes, but no sooner than the rate budget lets the
        waiting rows start (each costs a start and a stream)."""
        left = counts["waiting"] + counts["queued"] + counts["running"]
        if not left:
            return None
        pace = None
        if len(finished) >= 2 and finished[-1] > finished[0]:
            pace = left * (finished[-1] - finished[0]) / (len(finished) - 1)
        budget = counts["waiting"] * REQUESTS_PER_NEW_RUN * self.request_interval() + rate_wait
        return max(pace or 0.0, budget) if pace is not None or budget > 0 else None


def render_text(s: dict[str, Any]) -> str:
    c = s["counts"]
    parts = [
        f"lamina: {s['done']}/{s['total']} done",
        f"completed {c['completed']}",
        f"failed {c['failed']}",
        *([f"cancelled {c['cancelled']}"] if c["cancelled"] else []),
        f"running {c['running']}",
        f"queued {c['queued']}",
        f"waiting {c['waiting']}",
        f"elapsed {_duration(s['elapsed'])}",
    ]
    if s["eta"] is not None:
        parts.append(f"ETA {_duration(s['eta'])}")
    if c.get(SKIPPED):
        parts.insert(3, f"skipped {c[SKIPPED]}")
    if s.get("credits"):
        parts.append(s["credits"])
    if s["rate_wait"] >= 0.5:
        parts.append(f"waiting {s['rate_wait']:.0f} s for the rate limit")
    return " | ".join(parts)


def render_html(s: dict[str, Any]) -> str:
    c = s["counts"]
    colours = (("completed", "#3b82f6"), ("failed", "#ef4444"), ("cancelled", "#9ca3af"))
    segments = "".join(
        f"<div style='background:{colour};height:8px;width:{100 * c[state] / s['total']:.1f}%;"
        "float:left'></div>"
        for state, colour in colours
        if s["total"]
    )
    bar = (
        "<div style='background:#eee;height:8px;width:100%;max-width:480px;border-radius:4px'>"
        f"{segments}</div>"
    )
    thumbs = "".join(
        f"<img src='{html.escape(uri, quote=True)}' title='{html.escape(cap, quote=True)}' "
        "style='height:64px;margin:2px;border-radius:3px'>"
        for cap, uri in s["thumbnails"]
        if uri.startswith("data:image/")
    )
    notes = "".join(f"<div>{html.escape(n)}</div>" for n in s["notes"])
    return (
        f"<div style='font-family:sans-serif;font-size:13px'>{bar}"
        f"<div style='margin-top:4px'>{html.escape(render_text(s))}</div>{notes}<div>{thumbs}</div></div>"
    )


class _View:
    wants_thumbnails = False

    def update(self, final: bool = False) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class NullView(_View):
    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def update(self, final: bool = False) -> None:
        return None


class TextView(_View):
    """A rewritten line on a terminal; a line every `every` seconds (and at the end) otherwise."""

    def __init__(self, tracker: Tracker, stream: Any = None, every: float = 10.0) -> None:
        self.tracker, self.stream, self.every = tracker, stream or sys.stderr, every
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.last: float | None = None  # never 0.0: the monotonic clock starts near 0 after a boot

    def update(self, final: bool = False) -> None:
        now = time.monotonic()
        if not final and not self.tty and self.last is not None and now - self.last < self.every:
            return
        self.last = now
        line = render_text(self.tracker.snapshot())
        if self.tty:
            self.stream.write("\r" + line.ljust(120)[:160] + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        if final:
            for note in self.tracker.snapshot()["notes"]:
                self.stream.write(f"lamina: {note}\n")
        self.stream.flush()


class Summary:
    """The finished batch as static output (text/html + a text/plain line): what a saved notebook
    keeps in place of the live widget, which renders as `HTML(value=...)` once the kernel is gone."""

    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.html = render_html(snapshot)
        self.text = "\n".join([render_text(snapshot), *(f"lamina: {n}" for n in snapshot["notes"])])

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/html": self.html, "text/plain": self.text}


class WidgetView(_View):
    """An ipywidgets HTML widget, displayed once and updated in place (kernel thread only); replaced
    by a static Summary when the batch ends."""

    wants_thumbnails = True

    def __init__(self, tracker: Tracker) -> None:
        import ipywidgets
        from IPython.display import display

        self.tracker = tracker
        self.widget = ipywidgets.HTML(value=render_html(tracker.snapshot()))
        self.handle = display(self.widget, display_id=True)

    def update(self, final: bool = False) -> None:
        if not final:
            self.widget.value = render_html(self.tracker.snapshot())
            return
        if self.handle is not None:
            self.handle.update(Summary(self.tracker.snapshot()))
        self.widget.close()


def in_kernel() -> bool:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None  # type: ignore[attr-defined]
    return shell is not None and getattr(shell, "kernel", None) is not None


def make_view(tracker: Tracker, enabled: bool) -> _View:
    if not enabled:
        return NullView(tracker)
    if in_kernel():
        try:
            return WidgetView(tracker)
        except ImportError:
            pass
    return TextView(tracker)
