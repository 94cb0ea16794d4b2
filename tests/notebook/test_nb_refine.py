"""Refining from the notebook: `%lamina refine` in a real InteractiveShell, the Refine box under a
form's finished run (clicked headless on the kernel's loop); displayed runs stay static."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from IPython.core.error import UsageError
from suite import CAPTION_WRITER, TEXT_TO_IMAGE, route_count

from lamina_jupyter.notebook.refine import RefineBox

FEEDBACK_ROUTE = "POST /v1/runs/{id}/feedback"


def tag() -> str:
    return uuid.uuid4().hex[:8]


def test_magic_refines_and_shows_before_and_after(session, emulator, client, run_cell, shell):
    run = client.run(TEXT_TO_IMAGE, {"Prompt": f"a dune {tag()}"})
    emulator.reset_stats()
    cell = run_cell(f"r = %lamina refine {run.id} add a red sun")  # unquoted words are one feedback
    assert cell.error is None, cell.text()
    refined = shell.user_ns["r"]
    assert refined.id == run.id and [v.feedback for v in refined.versions] == [None, "add a red sun"]
    assert route_count(emulator, FEEDBACK_ROUTE) == 1
    html = cell.bundles[-1]["text/html"]
    assert ">before</th>" in html and ">after: add a red sun</th>" in html
    assert html.count("data:image/jpeg;base64,") == 2
    cell = run_cell(f'%lamina refine {run.id} "more sand"')
    assert cell.error is None and "shown above" in cell.stdout  # displayed once, the echo is one line


def test_magic_refine_errors_are_one_clean_line(session, client, run_cell):
    failed = client.run(CAPTION_WRITER, {"Topic": f"x #fail {tag()}"}, raise_on_failure=False)
    cell = run_cell(f'%lamina refine {failed.id} "shorter"')
    assert isinstance(cell.error, UsageError) and "Traceback" not in cell.text()
    assert "is failed, and only completed runs can be refined" in cell.stderr
    cell = run_cell(f"%lamina refine {failed.id}")
    assert isinstance(cell.error, UsageError) and "%lamina refine RUN_ID feedback" in cell.stderr
    assert "%lamina refine" in run_cell("%lamina help").stdout


def test_a_displayed_run_stays_static_so_a_saved_notebook_still_shows_it(session, client, shell):
    """No widget in a run's display: reopened without widget state it would read "model not found"."""
    done = client.run(CAPTION_WRITER, {"Topic": f"tea {tag()}"})
    bundle = shell.display_formatter.format(done)[0]
    assert set(bundle) == {"text/html", "text/plain"} and done.id in bundle["text/plain"]


@pytest.mark.anyio
async def test_refine_box_under_the_form_refines_the_finished_run(session, emulator):
    from lamina_jupyter import form

    f = form("Text to Image")
    assert f.refine_box.layout.display == "none"  # nothing to refine yet
    f.fields[0].set(f"a harbour {tag()}")
    f.run_button.click()
    run = await asyncio.wait_for(f.finished(), 30)
    box = f.refine_box
    assert run.status == "completed" and box.layout.display is None and box.run.id == run.id
    box.button.click()  # empty feedback: says so, sends nothing
    assert "Write what should change" in box.status.value and box.task is None
    box.feedback.value = "stormy <i>sky</i>"
    emulator.reset_stats()
    box.button.click()
    assert box.task is not None and box.button.disabled  # scheduled, not blocking
    refined = await asyncio.wait_for(box.finished(), 30)
    assert route_count(emulator, FEEDBACK_ROUTE) == 1 and not box.button.disabled
    assert [v.feedback for v in refined.versions] == [None, "stormy <i>sky</i>"]
    assert "after: stormy &lt;i&gt;sky&lt;/i&gt;" in box.view.value and "version 2" in box.status.value
    assert box.view.value.count("data:image/jpeg;base64,") == 2 and box.feedback.value == ""


@pytest.mark.anyio
async def test_refine_box_shows_the_error_and_can_try_again(session, emulator, client):
    run = client.run(CAPTION_WRITER, {"Topic": f"rain {tag()}"})
    box = RefineBox(run=run)
    emulator.inject("status", route="POST /v1/runs/*/feedback", status=500)
    box.feedback.value = "cosier"
    box.button.click()
    assert await asyncio.wait_for(box.finished(), 30) is run  # not refined
    assert "may still be applied" in box.status.value and not box.button.disabled
    box.button.click()
    refined = await asyncio.wait_for(box.finished(), 30)
    assert "cosier" in refined.outputs[0].value and len(refined.versions) == 2
