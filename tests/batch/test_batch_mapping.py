"""Column → parameter mapping, all-rows validation before any spend, and the dry-run report."""

from __future__ import annotations

import pandas as pd
import pytest
from suite import PRODUCT_SHOT, TEXT_TO_IMAGE, route_count

from lamina_jupyter import LaminaWarning, ValidationError, run_dataframe
from lamina_jupyter.batch.mapping import map_columns


@pytest.fixture
def app(client):
    return client.get_app(TEXT_TO_IMAGE)


def test_exact_then_loose_matching_and_explicit_columns(app):
    cmap = map_columns(app, ["prompt_text", "STYLE", "aspect ratio"])
    assert cmap.columns == {"prompt_text": "Prompt", "STYLE": "Style", "aspect ratio": "Aspect Ratio"}
    cmap = map_columns(
        app, ["words", "Style"], columns={"words": "prompt"}, constants={"Aspect_Ratio": "16:9"}
    )
    assert cmap.columns == {"words": "Prompt", "Style": "Style"}
    assert cmap.constants == {"Aspect Ratio": "16:9"}
    assert cmap.unmatched == []


def test_unmatched_columns_warn_and_are_listed(app):
    with pytest.warns(LaminaWarning, match="'notes'"):
        cmap = map_columns(app, ["prompt", "notes", "lamina_status"])
    assert cmap.unmatched == ["notes"]  # lamina_* result columns are ignored, not reported


def test_contradictions_are_errors_that_say_how_to_fix(app):
    with pytest.raises(ValueError, match="both feed parameter 'Prompt'"):
        map_columns(app, ["prompt", "prompt_text"], columns={"prompt": "Prompt", "prompt_text": "Prompt"})
    with pytest.raises(ValueError, match="both from column 'style' and from constants"):
        map_columns(app, ["prompt", "style"], constants={"Style": "Neon"})
    with pytest.raises(ValueError, match="matches no parameter"):
        map_columns(app, ["prompt"], constants={"Colour": "red"})
    with pytest.raises(ValueError, match="not a column of the frame"):
        map_columns(app, ["prompt"], columns={"nope": "Prompt"})


def test_every_row_is_checked_and_nothing_is_sent(client, emulator):
    emulator.reset_stats()
    df = pd.DataFrame(
        {"prompt": ["ok", None, 42, "fine"], "style": ["Neon", "Neon", "Neon", "Watercolour"]},
        index=["a", "b", "c", "d"],
    )
    with pytest.raises(ValidationError) as info:
        run_dataframe(df, TEXT_TO_IMAGE, client=client, progress=False)
    err = info.value
    where = {(d["index"], d["column"], d["error"]) for d in err.details}
    assert where == {
        ("b", "prompt", "missing_no_default"),
        ("c", "prompt", "invalid_type"),
        ("d", "style", "invalid_option"),
    }
    assert "3 problem(s) in 3 of 4 row(s)" in str(err)
    assert "Did you mean 'Watercolor'" in str(err)
    assert route_count(emulator, "POST /v1/apps/{id}/runs") == 0


def test_dry_run_reports_payloads_problems_and_estimates(client, emulator):
    emulator.reset_stats()
    df = pd.DataFrame(
        {
            "Product": ["mug", "lamp", "chair"],
            "bg": ["Park", "<script>Mars</script>", "Urban"],
            "notes": [1, 2, 3],
        }
    )
    with pytest.warns(LaminaWarning, match="'notes'"):
        report = run_dataframe(df, PRODUCT_SHOT, client=client, columns={"bg": "Background"}, dry_run=True)
    assert not report.ok
    assert [p["row"] for p in report.problems] == [1]
    assert report.problems[0]["column"] == "bg"
    assert [p["inputs"] for p in report.payloads] == [
        {"Product": "mug", "Background": "Park"},
        {"Product": "chair", "Background": "Urban"},
    ]
    assert report.unmatched == ["notes"]
    assert report.to_submit == 2 and report.credits_per_run is not None
    assert report.estimated_credits == report.credits_per_run * 2
    assert report.wall_seconds > 0
    text = repr(report)
    assert "Mars" in text and "Wall time" in text and "Credits" in text
    assert "<script>" not in report._repr_html_() and "&lt;script&gt;Mars" in report._repr_html_()
    assert route_count(emulator, "POST /v1/apps/{id}/runs") == 0


def test_constants_and_empty_cells_use_defaults(client, emulator, prompts):
    df = prompts(3)
    df["style"] = ["Neon", float("nan"), None]
    result = run_dataframe(
        df, TEXT_TO_IMAGE, client=client, constants={"Aspect Ratio": "16:9"}, progress=False
    )
    assert (result["lamina_status"] == "completed").all()
    sent = {r["run_id"]: r["inputs"] for r in emulator.runs()}
    inputs = [sent[rid] for rid in result["lamina_run_id"]]
    assert inputs[0] == {"Prompt": df["prompt"].iloc[0], "Style": "Neon", "Aspect Ratio": "16:9"}
    assert inputs[1] == {"Prompt": df["prompt"].iloc[1], "Aspect Ratio": "16:9"}
