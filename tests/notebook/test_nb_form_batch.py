"""Form and DataFrame, both ways: "Add to batch" collects rows into form.batch, and
form(app, values=row) opens a row pre-filled (real widgets, the real emulator)."""

from __future__ import annotations

import uuid

import ipywidgets as W
import pandas as pd
import pytest
from suite import TEXT_TO_IMAGE

import lamina_jupyter
from lamina_jupyter import run_dataframe


def fields(form):
    return {f.param.name: f for f in form.fields}


def tag() -> str:
    return uuid.uuid4().hex[:8]


def test_add_to_batch_collects_rows_ready_to_run(session, emulator, client):
    form = lamina_jupyter.form("Text to Image")
    buttons = next(c for c in form.children if isinstance(c, W.HBox) and form.run_button in c.children)
    assert form.batcher.button in buttons.children and form.batcher.button.description == "Add to batch"
    first, second = f"a kite {tag()}", f"a boat {tag()}"
    fields(form)["Prompt"].set(first)
    form.batcher.button.click()
    fields(form)["Prompt"].set(second)
    fields(form)["Style"].set("Neon")
    form.batcher.button.click()
    batch = form.batch
    assert list(batch.columns) == ["Prompt", "Style", "Aspect Ratio"]
    assert batch.to_dict("records") == [
        {"Prompt": first, "Style": "Photographic", "Aspect Ratio": "1:1"},
        {"Prompt": second, "Style": "Neon", "Aspect Ratio": "1:1"},
    ]
    assert "2 row(s)" in form.batcher.count.value
    before = len(emulator.runs())
    result = batch.lamina.run(TEXT_TO_IMAGE, client=client, progress=False)
    assert (result["lamina_status"] == "completed").all()
    assert [r["inputs"] for r in emulator.runs()[before:]] == batch.to_dict("records")


def test_an_invalid_form_adds_nothing_and_says_why(session, emulator):
    form = lamina_jupyter.form("Text to Image")
    form.batcher.button.click()  # Prompt is required and empty
    assert form.batch.empty and "Fix the marked fields" in form.batcher.count.value
    assert fields(form)["Prompt"].message.value  # the field itself says what is wrong


def test_a_failed_row_opens_pre_filled_and_runs_again(session, emulator, client):
    df = pd.DataFrame({"prompt": [f"ok {tag()}", f"broken {tag()} #fail"], "style": ["Neon", "Watercolor"]},
                      index=["a", "b"])
    result = run_dataframe(df, TEXT_TO_IMAGE, client=client, progress=False)
    assert list(result["lamina_status"]) == ["completed", "failed"]
    form = lamina_jupyter.form("Text to Image", values=result.loc["b"])
    w = fields(form)
    assert w["Prompt"].widget.value == df.loc["b", "prompt"] and w["Style"].widget.value == "Watercolor"
    assert w["Aspect Ratio"].widget.value == "1:1"  # not in the row: the app's default stays
    assert not any(f.message.value for f in form.fields)  # Image / lamina_* columns were ignored
    assert form.validate() == {"Prompt": df.loc["b", "prompt"], "Style": "Watercolor", "Aspect Ratio": "1:1"}


def test_a_mapped_column_and_a_plain_dict_prefill_too(session, emulator, client):
    df = pd.DataFrame({"idea": [f"a mapped idea {tag()}"]})
    result = run_dataframe(df, TEXT_TO_IMAGE, client=client, columns={"idea": "Prompt"}, progress=False)
    form = lamina_jupyter.form(TEXT_TO_IMAGE, values=result.iloc[0])
    assert fields(form)["Prompt"].widget.value == df.loc[0, "idea"]
    by_key = lamina_jupyter.form(TEXT_TO_IMAGE, values={"prompt_text": "by key", "aspect ratio": "16:9"})
    assert fields(by_key)["Prompt"].widget.value == "by key"
    assert fields(by_key)["Aspect Ratio"].widget.value == "16:9"


def test_an_option_the_app_no_longer_has_is_reported_on_its_field(session, emulator):
    emulator.edit_app(TEXT_TO_IMAGE, options={"style": ["Photographic", "Neon"]})
    form = lamina_jupyter.form(TEXT_TO_IMAGE, values={"Prompt": "x", "Style": "Watercolor"})
    style = fields(form)["Style"]
    assert style.widget.value == "Photographic" and "&#x27;Watercolor&#x27; is not one of the options" in (
        style.message.value)


def test_values_must_be_a_row_or_a_dict(session, emulator):
    with pytest.raises(TypeError, match="values= takes a dict or a DataFrame row"):
        lamina_jupyter.form(TEXT_TO_IMAGE, values=42)
