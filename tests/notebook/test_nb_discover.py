"""`%lamina discover` in a real InteractiveShell: matches, why and cost, and buttons that open forms;
`%lamina whoami` shows the credit balance and the rate limit."""

from __future__ import annotations

import asyncio

import pytest
from IPython.core.error import UsageError
from metered_credits import metered
from suite import PRODUCT_SHOT


def texts(widget) -> str:
    """Every HTML string in a widget tree."""
    own = widget.value if hasattr(widget, "value") and isinstance(widget.value, str) else ""
    return own + "".join(texts(c) for c in getattr(widget, "children", ()))


def test_discover_shows_matches_why_and_cost(session, run_cell, shell):
    from lamina_jupyter.notebook.discover import DiscoverView

    cell = run_cell('v = %lamina discover "product photo on a beach"')
    assert cell.error is None, cell.text()
    view = shell.user_ns["v"]
    assert isinstance(view, DiscoverView) and view.found[0].app_id == PRODUCT_SHOT
    shown = texts(view)
    assert "Product Shot Set" in shown and "~9 credits" in shown and "read as: image" in shown
    assert "&#x27;product&#x27; in its name" in shown  # why it matched, escaped
    assert len(view.open_buttons) == len(view.found) > 1


@pytest.mark.anyio
async def test_the_button_opens_the_apps_form_without_blocking(session, emulator):
    from lamina_jupyter.notebook.discover import discover_view
    from lamina_jupyter.notebook.form import Form

    view = discover_view("product photo on a beach")
    view.open_buttons[0].click()
    assert view.task is not None and not view.task.done()  # scheduled on the loop, not run inline
    form = await asyncio.wait_for(view.task, 10)
    assert isinstance(form, Form) and view.opened.children == (form,)
    assert form.app.id == PRODUCT_SHOT and [f.param.name for f in form.fields] == ["Product", "Background"]
    view.open_buttons[1].click()
    second = await asyncio.wait_for(view.task, 10)
    assert view.opened.children == (second,) and second.app.id == view.found[1].app_id


@pytest.mark.anyio
async def test_a_failed_open_says_why_in_the_view(session, emulator):
    from lamina_jupyter.notebook.discover import discover_view

    view = discover_view("product photo")
    emulator.inject("status", route=f"/v1/apps/{PRODUCT_SHOT}", status=404, times=1)
    view.open_buttons[0].click()
    assert await asyncio.wait_for(view.task, 10) is None
    assert "404" in view.problem.value and view.opened.children == ()


def test_no_match_says_what_to_try(session, run_cell, shell):
    run_cell('v = %lamina discover "zzzz qqqq" --format video --max-credits 1')
    shown = texts(shell.user_ns["v"])
    assert "No app matches" in shown and "%lamina apps" in shown


@pytest.mark.parametrize("source, needle", [
    ("%lamina discover", "say what you want"),
    ('%lamina discover "x" --limit many', "--limit needs a number"),
    ('%lamina discover "x" --colour red', "unknown option"),
])
def test_bad_discover_usage_shows_its_help(session, run_cell, source, needle):
    cell = run_cell(source)
    assert isinstance(cell.error, UsageError) and needle in cell.stderr
    assert "Usage: %lamina discover" in cell.stderr and "Traceback" not in cell.text()


def test_whoami_shows_the_balance_and_rate_limit(session, emulator, run_cell):
    emulator.configure(rate_limit=100)
    with metered(emulator, 123):
        cell = run_cell("%lamina whoami")
    assert cell.error is None, cell.text()
    assert "credits:  123 left" in cell.stdout and "100 requests per 60 s" in cell.stdout
    assert emulator.api_key not in cell.text()


def test_whoami_still_answers_when_usage_cannot_be_read(session, emulator, run_cell):
    emulator.inject("status", route="/v1/account/usage", status=404, times=1)
    cell = run_cell("%lamina whoami")
    assert cell.error is None and "credits:  unknown (Lamina API 404" in cell.stdout
    assert emulator.base_url in cell.stdout
