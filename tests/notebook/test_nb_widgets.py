"""Generated forms, headless: set values, click Run the way the browser does, drive the asyncio loop
the way the kernel does, and check what the emulator received and what the form shows."""

from __future__ import annotations

import asyncio
import html
import io
import json
import re
import uuid
from datetime import datetime, timezone

import pytest
from suite import CAPTION_WRITER, CARTOONIFY, PRODUCT_SHOT, TEASER_CLIP, TEXT_TO_IMAGE

pytestmark = pytest.mark.anyio


def tag() -> str:
    return uuid.uuid4().hex[:8]


def fields(form):
    return {f.param.name: f for f in form.fields}


def png(colour="orange") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (48, 48), colour).save(buf, format="PNG")
    return buf.getvalue()


async def submit(form, emulator):
    """Click Run; the click must return at once with the work scheduled on the running loop."""
    before = len(emulator.runs())
    form.run_button.click()
    assert form.task is not None and not form.task.done() and form.run_button.disabled
    run = await asyncio.wait_for(form.finished(), 30)
    assert not form.run_button.disabled
    return run, emulator.runs()[before:]


async def test_text_to_image(session, emulator):
    from lamina_jupyter import form

    f = form("Text to Image")
    w = fields(f)
    assert type(w["Prompt"].widget).__name__ == "Textarea" and w["Prompt"].widget.description == "Prompt *"
    assert w["Style"].widget.value == "Photographic" and w["Aspect Ratio"].widget.value == "1:1"
    prompt = f"a lighthouse {tag()}"
    w["Prompt"].set(prompt)
    w["Aspect Ratio"].set("16:9")
    run, sent = await submit(f, emulator)
    expected = {"Prompt": prompt, "Style": "Photographic", "Aspect Ratio": "16:9"}
    assert [s["inputs"] for s in sent] == [expected]
    assert run.status == "completed" and "completed" in f.status.value
    assert f.outputs.value.count("<img") == 1 and "data:image/jpeg;base64," in f.outputs.value
    assert html.escape(run.outputs[0].value) in f.outputs.value  # linked to the full size


async def test_cartoonify_with_a_picked_file(session, emulator):
    from lamina_jupyter import form

    f = form(CARTOONIFY)
    w = fields(f)
    assert w["Upload"].widget.value.startswith(emulator.base_url)  # default pre-filled
    uploads = emulator.stats["uploads"]
    content = png()
    picked = {"name": "me.png", "type": "image/png", "size": len(content), "content": memoryview(content),
              "last_modified": datetime.now(timezone.utc)}
    w["Upload"].picker.value = (picked,)
    w["Style"].set("Cyberpunk")
    run, sent = await submit(f, emulator)
    assert emulator.stats["uploads"] == uploads + 1
    inputs = sent[0]["inputs"]
    assert set(inputs) == {"Upload", "Style", "Aspect Ratio"} and inputs["Style"] == "Cyberpunk"
    assert inputs["Upload"].startswith(emulator.base_url) and inputs["Upload"] != w["Upload"].widget.value
    assert run.status == "completed" and "<img" in f.outputs.value


async def test_cartoonify_default_url(session, emulator):
    from lamina_jupyter import form

    f = form(CARTOONIFY)
    default = fields(f)["Upload"].widget.value
    run, sent = await submit(f, emulator)
    assert sent[0]["inputs"] == {"Upload": default, "Style": "Ghibli", "Aspect Ratio": "1:1"}
    assert run.status == "completed"


async def test_product_shot_shows_two_images_and_caption(session, emulator):
    from lamina_jupyter import form

    f = form(PRODUCT_SHOT)
    product = f"a teapot {tag()}"
    fields(f)["Product"].set(product)
    fields(f)["Background"].set("Park")
    run, sent = await submit(f, emulator)
    assert sent[0]["inputs"] == {"Product": product, "Background": "Park"}
    assert f.outputs.value.count("<img") == 2
    caption = run.output("Caption").value
    assert isinstance(caption, str) and html.escape(caption) in f.outputs.value


async def test_caption_writer_text_output(session, emulator):
    from lamina_jupyter import form

    f = form(CAPTION_WRITER)
    topic = f"<i>rain</i> {tag()}"
    fields(f)["Topic"].set(topic)
    fields(f)["Tone"].set("Professional")
    run, sent = await submit(f, emulator)
    assert sent[0]["inputs"] == {"Topic": topic, "Tone": "Professional"}
    assert "<img" not in f.outputs.value and "<pre" in f.outputs.value
    assert html.escape(run.outputs[0].value) in f.outputs.value and "<i>rain</i>" not in f.outputs.value


async def test_teaser_clip_gif_stays_animated(session, emulator):
    from lamina_jupyter import form

    f = form(TEASER_CLIP)
    fields(f)["Prompt"].set(f"waves {tag()}")
    fields(f)["Duration"].set("4s")
    run, sent = await submit(f, emulator)
    assert sent[0]["inputs"]["Duration"] == "4s"
    assert run.outputs[0].mime_type == "image/gif"
    assert "data:image/gif;base64," in f.outputs.value


async def test_run_never_blocks_the_loop(session, emulator):
    from lamina_jupyter import form

    emulator.configure(hold=True)
    try:
        f = form(CAPTION_WRITER)
        fields(f)["Topic"].set(f"held {tag()}")
        f.run_button.click()
        f.run_button.click()  # a second click while running is ignored
        ticks = 0
        for _ in range(10):  # "other cells" keep running on the same loop
            await asyncio.sleep(0.1)
            ticks += 1
        assert ticks == 10 and not f.task.done() and f.run_button.disabled
        assert "running" in f.status.value or "queued" in f.status.value
        assert re.search(r"\d+\.\d s", f.status.value)  # elapsed time moves
    finally:
        emulator.configure(hold=False)
    run = await asyncio.wait_for(f.finished(), 30)
    assert run.status == "completed" and not f.run_button.disabled
    assert len([r for r in emulator.runs() if r["inputs"].get("Topic", "").startswith("held")]) >= 1


async def test_inline_validation_sends_nothing(session, emulator):
    from lamina_jupyter import form

    f = form(TEXT_TO_IMAGE)
    before = len(emulator.runs())
    f.run_button.click()
    assert f.task is None and "required" in fields(f)["Prompt"].message.value
    c = form(CARTOONIFY)
    fields(c)["Upload"].widget.value = "not a url"
    assert "neither an http(s) URL nor an existing file" in fields(c)["Upload"].message.value
    c.run_button.click()
    assert c.task is None and len(emulator.runs()) == before


async def test_failed_run_shows_id_and_what_to_do(session, emulator):
    from lamina_jupyter import form

    f = form(TEXT_TO_IMAGE)
    fields(f)["Prompt"].set(f"storm #fail {tag()}")
    run, _ = await submit(f, emulator)
    assert run.status == "failed"
    assert run.id in f.problems.value and "Change the inputs" in f.problems.value
    assert "failed" in f.status.value


async def test_api_error_is_shown_in_the_form(session, emulator):
    from lamina_jupyter import form

    f = form(CAPTION_WRITER)
    fields(f)["Topic"].set(f"auth {tag()}")
    emulator.inject("status", route="POST /v1/apps/*/runs", status=401, times=1)
    f.run_button.click()
    assert await asyncio.wait_for(f.finished(), 30) is None
    assert "401" in f.problems.value and "error" in f.status.value and not f.run_button.disabled


async def test_copy_as_code_runs_the_same_app_with_the_same_inputs(session, emulator, monkeypatch):
    from lamina_jupyter import form

    f = form(TEXT_TO_IMAGE)
    prompt = f"code {tag()}"
    fields(f)["Prompt"].set(prompt)
    fields(f)["Style"].set("Neon")
    f.code_button.click()
    code = html.unescape(re.sub(r"<[^>]+>", "", f.code.value))
    assert emulator.api_key not in code and TEXT_TO_IMAGE in code
    monkeypatch.setenv("LAMINA_API_KEY", emulator.api_key)
    monkeypatch.setenv("LAMINA_BASE_URL", emulator.base_url)
    namespace: dict = {}
    await asyncio.to_thread(exec, code, namespace)
    namespace["client"].close()
    assert namespace["run"].status == "completed"
    assert emulator.runs()[-1]["inputs"] == {"Prompt": prompt, "Style": "Neon", "Aspect Ratio": "1:1"}


async def test_history_and_no_key_in_any_widget_state(session, emulator):
    from ipywidgets.widgets.widget import _instances

    from lamina_jupyter import form

    f = form(CAPTION_WRITER)
    ids = []
    for word in ("one", "two"):
        fields(f)["Topic"].set(f"{word} {tag()}")
        run, _ = await submit(f, emulator)
        ids.append(run.id)
    assert [r["run_id"] for r in f.runs] == ids[::-1]
    assert all(i in f.history.value for i in ids)
    f.code_button.click()
    states = json.dumps([w.get_state() for w in list(_instances.values())], default=str)
    assert emulator.api_key not in states and emulator.api_key[4:] not in states
