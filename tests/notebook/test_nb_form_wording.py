"""Each surface speaks its own language: the same missing input is told as the field to fill in a form,
the `Key=value` to add in the magic and the `inputs[...]` key in Python; where no widget runs, a form says
what it is in a line of text."""

from __future__ import annotations

import pytest
from suite import TEXT_TO_IMAGE

pytestmark = pytest.mark.anyio


async def test_form_names_the_field_to_fill_not_python(session, emulator):
    from lamina_jupyter import form

    f = form(TEXT_TO_IMAGE)
    before = len(emulator.runs())
    f.run_button.click()
    prompt = next(x for x in f.fields if x.param.name == "Prompt")
    assert f.task is None and len(emulator.runs()) == before
    assert "Fill in &#x27;Prompt&#x27; (required)" in prompt.message.value, prompt.message.value
    assert "inputs[" not in prompt.message.value and "pass it as" not in prompt.message.value
    prompt.set("a kite")
    f.validate()
    assert prompt.message.value == ""  # filled in: the advice goes away


def test_python_and_magic_keep_their_own_wording(session, run_cell):
    from lamina_jupyter import ValidationError

    with pytest.raises(ValidationError) as caught:
        session.current_client().run(TEXT_TO_IMAGE, {})
    assert "pass it as inputs['prompt_text']" in caught.value.message
    cell = run_cell(f"%lamina run {TEXT_TO_IMAGE}")
    assert "add Prompt=<value>" in cell.text() and "inputs[" not in cell.text()


def test_a_form_where_no_widget_runs_says_what_it_is(session):
    from lamina_jupyter import form

    bundle = form(TEXT_TO_IMAGE)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # live front ends still get the widget
    assert bundle["text/plain"] == ("Lamina form for 'Text to Image' (a widget: run this cell in Jupyter "
                                    "to use it; or lamina_jupyter.form('Text to Image'))")
