"""The form's sweep mode (issue 14): the Sweep toggle turns fields into several-values widgets and counts
the runs; Run makes every combination on the emulator, keeps the kernel free, and shows the grid under
the form; errors are said in the form's words; Copy as code is the equivalent `lamina_jupyter.sweep`
call; pandas loads only when a sweep runs (real widgets, the real emulator over HTTP, real pandas)."""

from __future__ import annotations

import ast
import asyncio
import html
import json
import os
import subprocess
import sys
import threading
import uuid

import ipywidgets as W
import pytest
from suite import TEXT_TO_IMAGE
from test_nb_copy_as_code import copied_code as copied
from test_nb_copy_as_code import hostile_app, literal

pytestmark = pytest.mark.anyio


def tag() -> str:
    return uuid.uuid4().hex[:8]


def fields(form):
    return {f.param.name: f for f in form.fields}


def sweep_on(form, prompts: list[str] | None = None, styles: tuple = (), ratios: tuple = ()):
    """Turn Sweep on and fill the several-values widgets the way a person would."""
    form.sweeper.toggle.value = True
    w = fields(form)
    if prompts is not None:
        w["Prompt"].many.value = "\n".join(prompts)
    if styles:
        w["Style"].many.value = styles
    if ratios:
        w["Aspect Ratio"].many.value = ratios
    return w


async def run_sweep(form, emulator):
    """Click Run; it returns at once (the sweep works on the forms' worker loop); the runs it made."""
    before = len(emulator.runs())
    form.run_button.click()
    assert form.task is not None and not form.task.done() and form.run_button.disabled
    await asyncio.wait_for(form.finished(), 60)
    assert not form.run_button.disabled
    return emulator.runs()[before:]


async def test_toggling_sweep_changes_the_fields_and_the_run_count(session, emulator):
    from lamina_jupyter import form

    f = form(TEXT_TO_IMAGE)
    w = fields(f)
    toggle_row = next(c for c in f.children if isinstance(c, W.HBox) and f.sweeper.toggle in c.children)
    assert f.children.index(toggle_row) < next(i for i, c in enumerate(f.children) if f.run_button in
                                               getattr(c, "children", ()))  # above the buttons
    assert not f.sweeper.toggle.value and f.run_button.description == "Run"  # off by default: unchanged
    assert f.sweeper.repeat.layout.display == "none" and f.sweeper.count.value == ""
    assert w["Style"].box.children[0] is w["Style"].widget and w["Style"].many is None  # not even built
    w["Prompt"].set("a fox")
    f.sweeper.toggle.value = True
    prompt, style = w["Prompt"].box.children[0], w["Style"].box.children[0]
    assert isinstance(prompt, W.Textarea) and prompt.placeholder == "one value per line"
    assert prompt.value == "a fox"  # seeded with the value the field had
    assert isinstance(style, W.SelectMultiple) and style.value == ("Photographic",)
    assert isinstance(w["Aspect Ratio"].box.children[0], W.SelectMultiple)
    assert f.run_button.description == "Run" and "1 run" in f.sweeper.count.value  # one combination
    assert f.sweeper.repeat.layout.display is None
    prompt.value = "a fox\n\n   \na ship\na fox\n"  # blank lines ignored, a repeated line counts once
    style.value = ("Neon", "Watercolor", "Pixel Art")
    assert f.run_button.description == "Run sweep (6 runs)"
    assert "2 Prompt × 3 Style = 6 runs" in html.unescape(f.sweeper.count.value)
    f.sweeper.repeat.value = 2
    assert f.run_button.description == "Run sweep (12 runs)"
    assert "2 Prompt × 3 Style × repeat 2 = 12 runs" in html.unescape(f.sweeper.count.value)
    f.sweeper.toggle.value = False
    assert f.run_button.description == "Run" and f.sweeper.count.value == ""
    assert w["Prompt"].box.children[0] is w["Prompt"].widget and w["Prompt"].widget.value == "a fox"
    assert w["Style"].widget.value == "Neon"  # the first value picked goes back to the single field
    f.sweeper.toggle.value = True  # and back: the values typed are still there
    assert f.run_button.description == "Run sweep (12 runs)"


async def test_a_prompt_of_several_lines_survives_sweep_on_and_off(session, emulator):
    """Sweep mode reads a line as a value, so the seeded box shows each line as one; turning Sweep off
    again untouched must give the prompt back whole, not its first line."""
    from lamina_jupyter import form

    f = form(TEXT_TO_IMAGE)
    w = fields(f)
    prompt = "a lighthouse at dusk\nin the style of an old woodcut\nwide angle"
    w["Prompt"].set(prompt)
    w["Style"].set("Neon")
    f.sweeper.toggle.value = True
    f.sweeper.toggle.value = False
    assert w["Prompt"].value() == prompt and w["Style"].value() == "Neon"
    f.sweeper.toggle.value = True
    w["Prompt"].many.value = "a kite\na boat"  # changed in sweep mode: the first value comes back
    f.sweeper.toggle.value = False
    assert w["Prompt"].value() == "a kite"


async def test_run_makes_every_combination_and_shows_the_grid(session, emulator):
    from lamina_jupyter import form

    t = tag()
    prompts = [f"{t} fox", f"{t} ship", f"{t} tree"]
    f = form(TEXT_TO_IMAGE)
    sweep_on(f, prompts, ("Neon", "Watercolor"))
    f.fields[2].many.value = ("16:9",)
    assert f.run_button.description == "Run sweep (6 runs)"
    seen: list[tuple[str, str]] = []
    f.status.observe(lambda c: seen.append((c["new"], threading.current_thread().name)), names="value")
    emulator.reset_stats()
    sent = await run_sweep(f, emulator)
    assert emulator.stats["runs_created"] == 6 and len(sent) == 6
    made = sorted((r["inputs"]["Prompt"], r["inputs"]["Style"], r["inputs"]["Aspect Ratio"]) for r in sent)
    assert made == sorted((p, s, "16:9") for p in prompts for s in ("Neon", "Watercolor"))
    progress = [value for value, _ in seen if "/6 done" in value]
    assert "lamina: 6/6 done" in progress[-1] and "completed 6" in progress[-1]
    assert any("lamina: 6/6" not in value for value in progress)  # shown while it ran, not only at the end
    assert {name for _, name in seen} == {threading.main_thread().name}  # widgets: kernel thread only
    page = f.outputs.value
    assert page.count("<table") == 1 and ">Prompt / Style</th>" in page  # first varied field down
    assert [page.index(f">{p}</th>") for p in prompts] == sorted(page.index(f">{p}</th>") for p in prompts)
    assert page.index(">Neon</th>") < page.index(">Watercolor</th>") < page.index(f">{prompts[0]}</th>")
    assert page.count("data:image/jpeg;base64,") == 6
    result = f.sweep_result
    assert len(result) == 6 and (result["lamina_status"] == "completed").all()
    assert set(result["lamina_run_id"]) == {r["run_id"] for r in sent}
    assert "sweep of 6: 6 completed cell(s)" in f.history.value
    assert f.run_button.description == "Run sweep (6 runs)"


async def test_a_failing_combination_says_why_in_its_cell(session, emulator):
    from lamina_jupyter import form

    t = tag()
    f = form(TEXT_TO_IMAGE)
    sweep_on(f, [f"{t} ok", f"{t} broken #fail"], ("Neon",), ("1:1", "16:9"))
    sent = await run_sweep(f, emulator)
    assert len(sent) == 4 and all(r["inputs"]["Style"] == "Neon" for r in sent)
    page = f.outputs.value
    assert ">Prompt / Aspect Ratio</th>" in page and ">16:9</th>" in page
    broken = page[page.index(f">{t} broken #fail</th>"):]
    assert broken.count("failed: Image generation timed out") == 2 and "<img" not in broken
    assert page.count("data:image/jpeg;base64,") == 2  # the other row completed
    assert "2 completed, 2 failed cell(s)" in f.history.value


async def test_one_combination_is_a_plain_run(session, emulator):
    from lamina_jupyter import form

    f = form(TEXT_TO_IMAGE)
    sweep_on(f, [f"{tag()} single"])
    assert f.run_button.description == "Run"
    sent = await run_sweep(f, emulator)
    assert len(sent) == 1 and f.last_run.status == "completed" and f.sweep_result is None
    assert "<table" not in f.outputs.value and f.outputs.value.count("<img") == 1  # the run's own view


async def test_errors_are_said_on_the_form_in_its_words(session, emulator, monkeypatch):
    from lamina_jupyter import form
    from lamina_jupyter.notebook import form_sweep

    f = form(TEXT_TO_IMAGE)
    w = sweep_on(f, ["", "  "], ("Neon", "Watercolor"))
    before = len(emulator.runs())
    f.run_button.click()
    assert f.task is None and len(emulator.runs()) == before
    assert "Fill in &#x27;Prompt&#x27; (required)" in w["Prompt"].message.value
    assert "Fix the fields marked above" in f.status.value
    monkeypatch.setattr(form_sweep, "MAX_UNCONFIRMED", 5)  # the real bar is 100; the rule is the same
    w["Prompt"].many.value = "a\nb\nc"
    f.run_button.click()
    assert w["Prompt"].message.value == ""  # filled in: the advice goes away
    assert f.task is None and len(emulator.runs()) == before  # asked first
    assert "This sweep makes 6 runs (more than 5)" in f.status.value
    assert f.run_button.description == "Confirm: 6 runs"
    w["Style"].many.value = ("Neon",)  # a change asks again
    assert f.run_button.description == "Run sweep (3 runs)"
    w["Style"].many.value = ("Neon", "Pixel Art")
    f.run_button.click()
    assert f.task is None
    f.run_button.click()  # a double-click: no confirmation, nothing is paid
    assert f.task is None and len(emulator.runs()) == before
    assert f.run_button.description == "Confirm: 6 runs"
    await asyncio.sleep(form_sweep.CONFIRM_AFTER)
    f.run_button.click()  # confirmed
    assert f.task is not None
    await asyncio.wait_for(f.finished(), 60)
    assert len(emulator.runs()) == before + 6 and len(f.sweep_result) == 6


async def test_add_to_batch_in_sweep_mode_adds_every_run(session, emulator):
    from lamina_jupyter import form

    f = form(TEXT_TO_IMAGE)
    sweep_on(f, ["x", "y"], ("Neon", "Watercolor"))
    f.sweeper.repeat.value = 2
    f.batcher.button.click()
    rows = f.batch.to_dict("records")
    assert len(rows) == 8 and rows[:2] == [{"Aspect Ratio": "1:1", "Prompt": "x", "Style": "Neon"}] * 2
    assert {(r["Prompt"], r["Style"]) for r in rows} == {(p, s) for p in "xy" for s in ("Neon", "Watercolor")}


@pytest.mark.parametrize("text", ["Nice app\n**(__import__('os').system('echo pwned') or {}),\n#",
                                  "x'})\n__import__('os').system('echo pwned')\n#"], ids=["splat", "close"])
def test_copy_as_code_in_sweep_mode_is_one_sweep_call_of_literals(text):

    from lamina_jupyter.notebook.form import Form

    form = Form(hostile_app(text))
    form.sweeper.toggle.value = True
    prompt, style = form.fields
    prompt.many.value = "one\n\ntwo"  # typed text: a line is a value
    style.many.value = (text, "plain")
    form.sweeper.repeat.value = 3
    tree = ast.parse(copied(form))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert [ast.unparse(c.func) for c in calls] == ["lamina_jupyter.sweep", "result.lamina.grid"]
    sweep, grid = calls
    assert all(literal(a) for a in sweep.args + grid.args) and all(literal(k.value) for k in sweep.keywords)
    app_id, factors = (ast.literal_eval(a) for a in sweep.args)
    assert app_id == f"app-{text}"
    assert factors == {f"Prompt {text}": ["one", "two"], "Style": [text, "plain"]}
    assert {k.arg: ast.literal_eval(k.value) for k in sweep.keywords} == {"repeat": 3}
    layout = {k.arg: ast.literal_eval(k.value) for k in grid.keywords}
    assert layout == {"rows": f"Prompt {text}", "cols": "Style"}
    assert [type(s).__name__ for s in tree.body] == ["Import", "Assign", "Expr"]
    prompt.many.value = "only one"
    style.many.value = ("plain",)
    form.sweeper.repeat.value = 1  # one combination: the plain run's code
    assert [ast.unparse(c.func) for c in ast.walk(ast.parse(copied(form))) if isinstance(c, ast.Call)] == [
        "Client", "client.run"]


def test_copied_sweep_code_makes_the_runs_the_form_would(session, emulator, tmp_path):
    from lamina_jupyter import form

    t = tag()
    f = form(TEXT_TO_IMAGE)
    sweep_on(f, [f"{t} kite", f"{t} boat"], ratios=("1:1", "4:3", "16:9"))
    f.fields[1].many.value = ("Neon",)
    code = copied(f)
    assert "constants={" in code and "'Style': 'Neon'" in code
    assert "result.lamina.grid(rows='Prompt', cols='Aspect Ratio')" in code
    before = len(emulator.runs())
    namespace: dict = {}
    exec(compile(code.replace("result.lamina.grid(", "layout = result.lamina.grid("), "copied", "exec"),
         namespace)
    sent = sorted(json.dumps(r["inputs"], sort_keys=True) for r in emulator.runs()[before:])
    expected = sorted(json.dumps(row, sort_keys=True) for row in f.sweeper.plan().rows())
    assert sent == expected and len(sent) == 6
    assert namespace["layout"].counts["completed"] == 6


def test_pandas_loads_only_when_the_sweep_runs(emulator):
    """In a fresh process: a form in sweep mode, filled and counted, has not imported pandas; Run has."""
    code = f"""
import sys
import lamina_jupyter
f = lamina_jupyter.form({TEXT_TO_IMAGE!r})
f.sweeper.toggle.value = True
f.fields[0].many.value = "a\\nb"
f.fields[1].many.value = ("Neon", "Watercolor")
f.code_button.click()
print(f.run_button.description, "pandas" in sys.modules)
f.run_button.click()  # no event loop in a script: the sweep runs now
print(len(f.sweep_result), "pandas" in sys.modules)
"""
    env = {**os.environ, "LAMINA_API_KEY": emulator.api_key, "LAMINA_BASE_URL": emulator.base_url}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == ["Run sweep (4 runs) False", "4 True"]
