"""Results that carry their lineage: show() as static HTML, the download manifest, the frame's attrs
and the drift guard when the app's parameters changed since the frame ran."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json

import pandas as pd
import pytest
from PIL import Image
from suite import PRODUCT_SHOT, route_count

from lamina_jupyter import LaminaError, run_dataframe

POST = "POST /v1/apps/{id}/runs"


@pytest.fixture
def shots(client, emulator):
    long = "a very long description " * 8
    df = pd.DataFrame(
        {"product": [f"<b>mug</b> {id(client)}", f"lamp #fail {id(client)}", f"chair {long}"],
         "background": ["Park", "Studio", "Urban"]},
        index=["x", "y", "z"],
    )
    return run_dataframe(df, PRODUCT_SHOT, client=client, progress=False)


def test_show_is_static_html_with_small_thumbnails_and_short_text(shots):
    table = shots.lamina.show(thumb=48)
    page = table._repr_mimebundle_()["text/html"]
    assert page.count("data:image/jpeg;base64,") == 6  # Front and Back of 3 rows; captions stay text
    first = page.split("data:image/jpeg;base64,")[1].split("'")[0]
    assert max(Image.open(io.BytesIO(base64.b64decode(first))).size) <= 48
    assert f"href='{shots.loc['x', 'Front View']}'" in page  # each thumbnail links to the full media
    assert "<b>" not in page and "&lt;b&gt;mug&lt;/b&gt;" in page
    full = shots.loc["z", "product"]
    assert f">{full[:79]}…</td>" in page and f">{full}<" not in page  # 80 characters by default
    assert "title='chair a very long description" in page  # the full text stays in the tooltip
    assert "completed" in page and "lamina_status" in page
    assert "<script" not in page and repr(table) == "<lamina table of 3 row(s) × 9 column(s)>"


def test_show_never_links_or_fetches_what_is_not_http(shots):
    hostile = shots.copy()
    hostile.loc["z", "Front View"] = "javascript:alert('<x>')"
    hostile.loc["x", "Back View"] = "file:///etc/passwd"
    page = hostile.lamina.show()._repr_html_()
    assert "href='javascript" not in page and "href='file" not in page
    assert "javascript:alert(&#x27;&lt;x&gt;&#x27;)" in page
    assert page.count("data:image/jpeg;base64,") == 4


def test_show_limits_rows_and_checks_the_thumbnail_size(shots):
    table = shots.lamina.show(max_rows=1)
    assert table.rows == 1 and table.hidden == 2 and "2 more row(s)" in table._repr_html_()
    with pytest.raises(ValueError, match="thumb"):
        shots.lamina.show(thumb=5000)


def test_attrs_carry_app_schema_hash_and_when_it_ran(shots, client):
    info = shots.attrs["lamina"]
    assert info["app_id"] == PRODUCT_SHOT and info["app_name"] == "Product Shot Set"
    assert [p["name"] for p in info["schema"]] == ["Product", "Background"]
    assert len(info["schema_hash"]) == 16 and info["ran_at"].endswith("Z")
    assert set(info["run_times"]) == {"0", "1", "2"}
    created, completed = info["run_times"]["0"]
    assert created < completed
    again = run_dataframe(pd.DataFrame({"product": ["vase"]}), PRODUCT_SHOT, client=client, progress=False)
    assert again.attrs["lamina"]["schema_hash"] == info["schema_hash"]  # same app, same schema


def test_download_writes_a_manifest_beside_the_files(shots, tmp_path):
    saved = shots.lamina.download("out/{index}_{label}.{ext}")
    records = json.loads((tmp_path / "out" / "manifest.json").read_text())
    files = {p for c in saved.columns if c.endswith("_local_path") for p in saved[c].dropna()}
    assert {f"out/{r['file']}" for r in records} == files and len(records) == 8  # 3 fronts/backs + 2 captions
    front = next(r for r in records if r["file"] == "x_Front View.png")
    assert front["sha256"] == hashlib.sha256((tmp_path / "out" / "x_Front View.png").read_bytes()).hexdigest()
    assert front["row_index"] == "x" and front["position"] == 0 and front["column"] == "Front View"
    assert front["run_id"] == shots.loc["x", "lamina_run_id"] and front["status"] == "completed"
    assert front["app_id"] == PRODUCT_SHOT and front["app_name"] == "Product Shot Set"
    assert front["schema_hash"] == shots.attrs["lamina"]["schema_hash"]
    assert front["inputs"] == {"Product": shots.loc["x", "product"], "Background": "Park"}
    assert front["created_at"] == shots.attrs["lamina"]["run_times"]["0"][0] and front["completed_at"]
    with open(tmp_path / "out" / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 8 and json.loads(rows[0]["inputs"])["Background"] in ("Park", "Studio", "Urban")
    assert {r["sha256"] for r in rows} == {r["sha256"] for r in records}


def test_retrying_after_the_app_changed_says_what_changed_and_sends_nothing(shots, emulator):
    emulator.edit_app(PRODUCT_SHOT, options={"background": ["Studio", "Beach"]})
    emulator.reset_stats()
    with pytest.raises(LaminaError) as info:
        shots.lamina.retry_failed()
    message = str(info.value)
    assert "'Product Shot Set' changed since this frame ran" in message
    assert "the options of 'Background' changed (removed ['Urban', 'Park'], added ['Beach'])" in message
    assert "Nothing was sent" in message and "df.attrs.pop('lamina')" in message
    assert emulator.stats["runs_created"] == 0 and route_count(emulator, POST) == 0


def test_rerunning_a_frame_whose_parameter_was_removed_names_it(shots, emulator, client):
    emulator.edit_app(PRODUCT_SHOT, drop=["background"])
    emulator.reset_stats()
    with pytest.raises(LaminaError, match="parameter 'Background' was removed"):
        shots.lamina.run(PRODUCT_SHOT, client=client, progress=False)
    assert route_count(emulator, POST) == 0
    inputs = shots[["product"]].copy()
    inputs.attrs.pop("lamina")  # the documented way to go ahead with the app as it is now
    assert (inputs.lamina.run(PRODUCT_SHOT, client=client, progress=False)["lamina_status"] != "error").all()


def test_an_unchanged_app_retries_as_before(shots, emulator):
    assert list(shots["lamina_status"]) == ["completed", "failed", "completed"]
    emulator.reset_stats()
    retried = shots.lamina.retry_failed(progress=False)
    assert route_count(emulator, POST) == 1
    assert retried.loc["y", "lamina_run_id"] != shots.loc["y", "lamina_run_id"]
