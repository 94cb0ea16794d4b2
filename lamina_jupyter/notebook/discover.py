"""`%lamina discover "product photo on a beach"`: the apps the API proposes for an intent, why each
matched and what a run costs, each with a button that opens its form below the list.

The button only schedules: fetching the app's parameters runs on the kernel's loop (as the form's
Run does), so a slow server never freezes the notebook. Every server string is HTML-escaped.
"""

from __future__ import annotations

import asyncio
from typing import Any

import ipywidgets as W

from ..core.client import Client
from ..core.discover import Discovery, Match
from ..core.errors import LaminaError
from . import kernel_ui, session
from .form import Form
from .views import esc

OPTIONS = {"--max-credits": "max_credits", "--format": "output_format", "--limit": "limit"}


def parse_discover_args(args: list[str]) -> tuple[str, dict[str, Any]]:
    """`words... [--max-credits N] [--format F] [--limit N]` → (intent, discover() keywords)."""
    words: list[str] = []
    options: dict[str, Any] = {}
    it = iter(args)
    for arg in it:
        name, _, inline = arg.partition("=")
        if name not in OPTIONS:
            if arg.startswith("--"):
                raise ValueError(f"unknown option {arg!r}; options are {', '.join(OPTIONS)}")
            words.append(arg)
            continue
        raw = inline or next(it, "")
        if name == "--format":
            options[OPTIONS[name]] = raw
            continue
        try:
            options[OPTIONS[name]] = float(raw) if name == "--max-credits" else int(raw)
        except ValueError:
            raise ValueError(f"{name} needs a number, not {raw!r}") from None
    if not " ".join(words).strip():
        raise ValueError('say what you want, e.g. %lamina discover "product photo on a beach"')
    return " ".join(words), options


def _credits(match: Match) -> str:
    return "cost unknown" if match.estimated_credits is None else f"~{match.estimated_credits:g} credits"


def match_html(match: Match) -> str:
    score = "" if match.relevance is None else f" · relevance {match.relevance:.2f}"
    return (f"<div class='lamina-match'><b>{esc(match.name)}</b> <small><code>{esc(match.app_id)}</code>"
            f"{esc(score)} · {esc(_credits(match))}</small>"
            f"<div style='color:#57606a'>{esc(match.why or match.description or '')}</div></div>")


def header_html(found: Discovery, intent: str) -> str:
    medium = f" (read as: {found.medium})" if found.medium else ""
    if not found.matches:
        return (f"<i>No app matches {esc(repr(intent))}{esc(medium)}. Try other words, drop a constraint, "
                "or list everything with <code>%lamina apps</code>.</i>")
    return f"<b>{len(found)} app(s) for {esc(repr(intent))}</b>{esc(medium)}, best first:"


class DiscoverView(W.VBox):
    """The matches, one `open_buttons[i]` per match; the opened form is `form` (shown under `opened`)."""

    def __init__(self, found: Discovery, intent: str, client: Client | None = None) -> None:
        self.found, self.intent, self.client = found, intent, client
        self.form: Form | None = None
        self.task: asyncio.Task[Form | None] | None = None
        self.problem = W.HTML("")
        self.opened = W.VBox([])
        self.open_buttons = []
        rows = []
        for match in found:
            button = W.Button(description="Open form", icon="edit", tooltip=f"a form for {match.name}")
            button.add_class("lamina-discover-open")
            button.on_click(lambda _b, m=match: self.open_form(m))
            self.open_buttons.append(button)
            rows.append(W.HBox([button, W.HTML(match_html(match))]))
        super().__init__([W.HTML(header_html(found, intent)), *rows, self.problem, self.opened])
        self.add_class("lamina-discover")

    def open_form(self, match: Match) -> None:
        """Schedule fetching the app and showing its form (run at once outside a kernel loop)."""
        self.task = kernel_ui.schedule(self._open(match))

    async def _open(self, match: Match) -> Form | None:
        self.problem.value = ""
        try:
            async with session.async_client(self.client) as ac:
                app = await ac.get_app(match.app_id)
        except LaminaError as exc:
            self.problem.value = f"<div style='color:#cf222e;white-space:pre-wrap'>{esc(exc.message)}</div>"
            return None
        self.form = Form(app, self.client)
        self.opened.children = (self.form,)
        return self.form


def discover_view(intent: str, client: Client | None = None, **constraints: Any) -> DiscoverView:
    """Ask the API which apps fit `intent` (max_credits=, output_format=, limit=) and show them."""
    found = (client or session.current_client()).discover(intent, **constraints)
    return DiscoverView(found, intent, client)
