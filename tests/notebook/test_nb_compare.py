"""compare(): runs, result rows and versions side by side with the differing inputs highlighted, and the
before/after view of a refined run, rendered from the real emulator's outputs."""

from __future__ import annotations

import uuid

import pytest
from suite import CAPTION_WRITER, TEXT_TO_IMAGE

import lamina_jupyter
from lamina_jupyter.notebook.compare import HIGHLIGHT, versions_view


def bundle(view) -> tuple[str, str]:
    b = view._repr_mimebundle_()
    return b["text/html"], b["text/plain"]


def test_result_rows_side_by_side_highlight_only_the_inputs_that_differ(client, emulator):
    prompt = f"{uuid.uuid4().hex[:6]} heron"
    result = lamina_jupyter.sweep(TEXT_TO_IMAGE, {"Style": ["Neon", "Watercolor"], "Prompt": [prompt]},
                                  client=client, progress=False)
    html, text = bundle(lamina_jupyter.compare(result.loc[[0, 1]]))
    assert f";{HIGHLIGHT}'>Style</th>" in html
    assert html.count(HIGHLIGHT) == 3  # the Style header and its two cells; Prompt is the same
    assert ">row 0</th>" in html and ">row 1</th>" in html and html.count("data:image/jpeg;base64,") == 2
    assert "Style: Neon | Watercolor  * differs" in text and f"Prompt: {prompt} | {prompt}\n" in text
    same = bundle(lamina_jupyter.compare(result.loc[0], result.loc[1]))[1]  # single rows work the same
    assert "* differs" in same


def test_runs_side_by_side_show_outputs_status_and_errors(client, emulator):
    good = client.run(CAPTION_WRITER, {"Topic": "tea <script>alert(1)</script>"})
    bad = client.run(CAPTION_WRITER, {"Topic": "tea #fail"}, raise_on_failure=False)
    html, text = bundle(lamina_jupyter.compare(good, bad))
    assert f">run {good.id}</th>" in html and f">run {bad.id}</th>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "failed: Text generation failed" in html
    assert f"[run {bad.id}] failed: Text generation failed" in text


def test_before_and_after_of_a_refined_run(client, emulator):
    run = client.run(TEXT_TO_IMAGE, {"Prompt": f"{uuid.uuid4().hex[:6]} dune"})
    refined = client.refine(run, "add a <b>red</b> sun")
    html, text = bundle(versions_view(refined))
    assert ">before</th>" in html and ">after: add a &lt;b&gt;red&lt;/b&gt; sun</th>" in html
    assert html.count(HIGHLIGHT) == 3 and html.count("data:image/jpeg;base64,") == 2
    for version in refined.versions:
        assert f"href='{version.outputs[0].value}'" in html
    twice = client.refine(refined, "more sand")
    html3 = bundle(lamina_jupyter.compare(*twice.versions))[0]
    assert ">v1 (original)</th>" in html3 and ">v3</th>" in html3


def test_nothing_to_compare_is_explained(client, emulator):
    run = client.run(CAPTION_WRITER, {"Topic": "plain"})
    with pytest.raises(ValueError, match="refine it first"):
        versions_view(run)
    with pytest.raises(TypeError, match="runs, run versions or result-frame rows"):
        lamina_jupyter.compare("run-id")
    with pytest.raises(ValueError, match="at least one"):
        lamina_jupyter.compare()
