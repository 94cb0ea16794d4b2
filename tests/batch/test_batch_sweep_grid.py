"""Sweeps through the real fan-out and grids of any result frame: labelled headers, failed and missing
cells, three factors as panels, text and video outputs, and a resumed sweep that pays nothing twice."""

from __future__ import annotations

import base64
import io
import os
import signal
import threading
import time
import uuid

import pandas as pd
import pytest
from PIL import Image
from suite import CAPTION_WRITER, TEASER_CLIP, TEXT_TO_IMAGE

import lamina_jupyter
from lamina_jupyter import Client, run_dataframe
from lamina_jupyter.batch.grid import Grid
from lamina_jupyter.batch.sweep import SweepResult
from lamina_jupyter.emulator import Emulator


def tag() -> str:
    return uuid.uuid4().hex[:6]


def test_sweep_runs_every_combination_once_with_a_column_per_factor(client, emulator):
    t = tag()
    prompts = [f"{t} fox", f"{t} ship", f"{t} tree"]
    emulator.reset_stats()
    result = lamina_jupyter.sweep(TEXT_TO_IMAGE, {"Style": ["Neon", "Watercolor"], "Prompt": prompts},
                                  constants={"Aspect Ratio": "16:9"}, client=client, progress=False)
    assert isinstance(result, SweepResult) and len(result) == 6
    assert list(result.columns[:2]) == ["Style", "Prompt"] and (result["lamina_status"] == "completed").all()
    assert emulator.stats["runs_created"] == 6 and emulator.stats["duplicate_starts"] == 0
    sent = {(r["inputs"]["Style"], r["inputs"]["Prompt"], r["inputs"]["Aspect Ratio"])
            for r in emulator.runs() if t in str(r["inputs"])}
    assert sent == {(s, p, "16:9") for s in ("Neon", "Watercolor") for p in prompts}
    derived = result[result["Style"] == "Neon"]
    assert type(derived) is pd.DataFrame  # a filter is a plain table again


def test_a_sweep_shows_its_grid_with_linked_thumbnails(client, emulator):
    t = tag()
    result = lamina_jupyter.sweep(TEXT_TO_IMAGE, {"Style": ["Neon", "Pixel Art"], "Prompt": [f"{t} owl"]},
                                  client=client, progress=False)
    html = result._repr_html_()
    assert html.count("<table") == 1 and ">Neon</th>" in html and ">Pixel Art</th>" in html
    assert f">{t} owl</th>" in html and ">Prompt / Style</th>" in html
    for url in result["Image"]:
        assert f"href='{url}'" in html
    thumbs = [part.split("'")[0] for part in html.split("src='data:image/jpeg;base64,")[1:]]
    assert len(thumbs) == 2 and all(Image.open(io.BytesIO(base64.b64decode(b))).width <= 256 for b in thumbs)
    assert result._repr_html_() is not None and result._lamina_grid is not None  # rendered once, cached


def test_grid_says_why_cells_failed_and_which_are_missing(client, emulator):
    t = tag()
    result = lamina_jupyter.sweep(TEXT_TO_IMAGE, {"Style": ["Neon", "Watercolor"],
                                                  "Prompt": [f"{t} ok", f"{t} broken #fail"]},
                                  client=client, progress=False)
    dropped = result.drop(index=[0])  # (Neon, ok) is gone
    g = dropped.lamina.grid(rows="Prompt", cols="Style")
    assert isinstance(g, Grid) and g.counts == {"completed": 1, "failed": 2, "pending": 0, "missing": 1}
    assert g.html.count("missing</i>") == 1 and g.html.count("failed: Image generation timed out") == 2
    text = g._repr_mimebundle_()["text/plain"]
    assert "missing" in text and "failed: Image generation" in text and "Neon" in text.splitlines()[1]


def test_three_factors_give_one_panel_per_value_of_the_third(client, emulator):
    t = tag()
    result = lamina_jupyter.sweep(
        TEXT_TO_IMAGE,
        {"Style": ["Neon", "Watercolor"], "Prompt": [f"{t} a", f"{t} b"], "Aspect Ratio": ["1:1", "16:9"]},
        client=client, progress=False)
    assert len(result) == 8
    html = result.lamina.grid(rows="Prompt", cols="Style", by="Aspect Ratio").html
    assert html.count("<table") == 2 and ">1:1</h4>" in html and ">16:9</h4>" in html
    assert html.count("data:image/jpeg;base64,") == 8
    default = result._repr_html_()  # default layout: first factor across, second down, third as panels
    assert default.count("<table") == 2 and ">Prompt / Style</th>" in default


def test_text_outputs_are_shown_as_escaped_text(client, emulator):
    t = tag()
    topics = [f"{t} <b>tea</b>", f"{t} coffee"]
    result = lamina_jupyter.sweep(CAPTION_WRITER, {"Tone": ["Playful", "Poetic"], "Topic": topics},
                                  client=client, progress=False)
    html = result.lamina.grid().html
    assert "<b>tea</b>" not in html and f"{t} &lt;b&gt;tea&lt;/b&gt;" in html
    for caption in result["Caption"]:
        assert caption.replace("<", "&lt;").replace(">", "&gt;") in html
    assert "data:image" not in html


def test_video_cells_get_a_poster_linked_to_the_clip(client, emulator):
    t = tag()
    result = lamina_jupyter.sweep(TEASER_CLIP, {"Duration": ["2s"], "Prompt": [f"{t} waves"]},
                                  client=client, progress=False)
    html = result.lamina.grid().html
    assert "src='data:image/gif;base64," in html and f"href='{result['Clip'][0]}'" in html


def test_repeat_runs_each_combination_again_in_the_same_cell(client, emulator):
    emulator.reset_stats()
    result = lamina_jupyter.sweep(CAPTION_WRITER, {"Topic": [f"{tag()} rain"]}, repeat=3, client=client,
                                  progress=False)
    assert list(result["lamina_repeat"]) == [1, 2, 3] and result["lamina_run_id"].nunique() == 3
    assert emulator.stats["runs_created"] == 3
    assert result.lamina.grid().html.count("class='lamina-output'") == 3


def test_grid_of_a_plain_result_frame_and_bad_names(client, emulator):
    t = tag()
    df = pd.DataFrame({"prompt": [f"{t} x", f"{t} y"], "style": ["Neon", "Neon"]})
    result = run_dataframe(df, TEXT_TO_IMAGE, client=client, progress=False)
    assert result.lamina.grid(rows="prompt", cols="style").counts["completed"] == 2
    with pytest.raises(ValueError, match="'Colour'.*not columns of the frame"):
        result.lamina.grid(rows="Colour")
    with pytest.raises(ValueError, match="output columns"):
        result.lamina.grid(rows="prompt", outputs="nope")


def test_dry_run_and_bad_factors_start_nothing(client, emulator):
    emulator.reset_stats()
    report = lamina_jupyter.sweep(TEXT_TO_IMAGE, {"Style": ["Neon", "Watercolor"], "Prompt": ["a", "b"]},
                                  client=client, dry_run=True)
    assert report.to_submit == 4
    with pytest.raises(TypeError, match="non-empty list.*constants="):
        lamina_jupyter.sweep(TEXT_TO_IMAGE, {"Style": "Neon"}, client=client)
    with pytest.raises(TypeError, match="dict of parameter"):
        lamina_jupyter.sweep(TEXT_TO_IMAGE, ["Neon"], client=client)
    with pytest.raises(ValueError, match="repeat"):
        lamina_jupyter.sweep(TEXT_TO_IMAGE, {"Style": ["Neon"]}, repeat=0, client=client)
    assert emulator.stats["runs_created"] == 0


def test_an_interrupted_sweep_resumes_without_paying_twice():
    """Its own emulator: a resumed start is matched against the runs of the app created around it, and
    the session emulator's other tests create runs of the same app at the same time."""
    with Emulator(latency=0.8, jitter=0.0, rate_limit=None, check_interval=0.05) as emu, \
            Client(api_key=emu.api_key, base_url=emu.base_url) as client:
        factors = {"Style": ["Neon", "Watercolor", "Pixel Art"], "Prompt": [f"p{i}" for i in range(4)]}

        def sweep():
            return lamina_jupyter.sweep(TEXT_TO_IMAGE, factors, client=client, concurrency=3, progress=False)

        def interrupt_after_the_first_completed_run() -> None:  # Ctrl-C mid-sweep, however slow the machine
            while not any(r["status"] == "completed" for r in emu.runs()):
                time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGINT)

        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        watcher = threading.Thread(target=interrupt_after_the_first_completed_run, daemon=True)
        watcher.start()
        try:
            partial = sweep()
        finally:
            watcher.join(30)
            signal.signal(signal.SIGINT, previous)
        assert partial.lamina.report["interrupted"] is True
        done = (partial["lamina_status"] == "completed").sum()
        assert 0 < done < 12
        assert "pending" in partial.lamina.grid().text  # the partial grid shows what has not run
        resumed = sweep()
        assert (resumed["lamina_status"] == "completed").all()
        assert resumed.lamina.report["reused"] == done
        assert emu.stats["runs_created"] == 12 and emu.stats["duplicate_starts"] == 0


def test_a_big_grid_links_instead_of_embedding_past_its_budget(client, emulator):
    result = lamina_jupyter.sweep(TEXT_TO_IMAGE, {"Style": ["Neon", "Watercolor", "Pixel Art"],
                                                  "Prompt": [f"{tag()} a", f"{tag()} b"]},
                                  client=client, progress=False)
    g = result.lamina.grid(max_cells=4)
    assert g.html.count("data:image/jpeg;base64,") == 4
    assert "2 cell(s) after the first 4 link to their media" in g.html
    for url in result["Image"]:  # every cell still reaches its full image
        assert f"href='{url}'" in g.html


def test_a_sweep_without_its_output_columns_falls_back_to_the_table(client, emulator):
    result = lamina_jupyter.sweep(CAPTION_WRITER, {"Topic": [f"{tag()} tide"]}, client=client, progress=False)
    stripped = SweepResult.of(result.drop(columns=["Caption"]))
    html = stripped._repr_html_()
    assert "<table" in html and "lamina-grid" not in html and "lamina_status" in html
