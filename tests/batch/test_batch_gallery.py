"""Gallery (embedded thumbnails, escaped, linked), download (files + local_path columns), progress."""

from __future__ import annotations

import base64
import io
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from suite import PRODUCT_SHOT, TEXT_TO_IMAGE

from lamina_jupyter import run_dataframe
from lamina_jupyter.batch.progress import TextView, Tracker, render_html, render_text
from lamina_jupyter.notebook.media import thumbnail_data_uri


@pytest.fixture
def shots(client, emulator):
    df = pd.DataFrame(
        {"product": ["<b>mug</b>", "lamp #fail", "chair"], "background": ["Park", "Studio", "Urban"]},
        index=["x", "y", "z"],
    )
    df["product"] = df["product"] + " " + pd.Series([str(id(df))] * 3, index=df.index)
    return run_dataframe(df, PRODUCT_SHOT, client=client, progress=False)


def test_gallery_embeds_small_escaped_linked_thumbnails(shots):
    g = shots.lamina.gallery(by="product", thumb=64)
    html = g._repr_mimebundle_()["text/html"]
    assert g.tiles == 6  # 3 rows × 2 image outputs (the text caption is not an image)
    assert html.count("data:image/jpeg;base64,") == 6  # "#fail" fails the last output (the caption) only
    assert "<b>" not in html and "&lt;b&gt;mug&lt;/b&gt;" in html
    for url in shots.loc[["x", "z"], "Front View"]:
        assert f"href='{url}'" in html
    first = html.split("data:image/jpeg;base64,")[1].split("'")[0]
    img = Image.open(io.BytesIO(base64.b64decode(first)))
    assert img.format == "JPEG" and max(img.size) <= 64
    assert "width:64px" in html
    hostile = shots.copy()
    hostile.loc["z", "Front View"] = "javascript:alert('<x>')"
    html = hostile.lamina.gallery(thumb=64)._repr_html_()
    assert html.count("data:image/jpeg;base64,") == 5 and "javascript:" in html  # shown escaped, not linked
    assert "href='javascript" not in html and "&lt;x&gt;" in html
    small = shots.lamina.gallery(max_images=2)
    assert small.tiles == 2 and small.skipped == 4 and "4 more" in repr(small)
    captions = shots.lamina.gallery(columns=["Caption"])._repr_html_()
    assert "white-space:pre-wrap" in captions and "<script" not in captions


def test_download_saves_outputs_and_adds_local_paths(shots):
    saved = shots.lamina.download("out/{index}_{label}.{ext}")
    assert list(saved.index) == ["x", "y", "z"]
    front = saved.loc["x", "Front View_local_path"]
    assert front == "out/x_Front View.png" and Path(front).read_bytes().startswith(b"\x89PNG")
    caption = Path(saved.loc["z", "Caption_local_path"])
    assert caption.suffix == ".txt" and caption.read_text() == shots.loc["z", "Caption"]
    assert pd.isna(saved.loc["y", "Caption_local_path"])  # the failed output had nothing to save


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_thumbnails_refuse_non_images_and_decompression_bombs():
    with pytest.raises(ValueError, match="not a usable image"):
        thumbnail_data_uri(b"<html>expired link</html>")
    with pytest.raises(ValueError, match="DecompressionBomb"):
        thumbnail_data_uri(_png_header(20000, 20000))


def test_progress_counts_eta_and_rate_limit_wait():
    tracker = Tracker(5, rate_wait=lambda: 7.2)
    tracker.set(0, "queued")
    tracker.set(1, "completed")
    tracker.set(2, "failed")
    tracker.set(3, "cancelled")
    snap = tracker.snapshot()
    assert snap["counts"] == {
        "waiting": 1, "queued": 1, "running": 0, "completed": 1, "failed": 1, "cancelled": 1}
    text = render_text(snap)
    assert "3/5 done" in text and "waiting 7 s for the rate limit" in text and "ETA" in text
    tracker.add_thumbnail("<img onerror=x>", "data:image/jpeg;base64,AAAA")
    tracker.add_thumbnail("evil", "javascript:alert(1)")
    html = render_html(tracker.snapshot())
    assert "<img onerror" not in html and "javascript:" not in html and html.count("<img") == 1
    out = io.StringIO()
    view = TextView(tracker, stream=out, every=3600)
    view.update()
    view.update()  # throttled
    tracker.note("2 newly submitted")
    view.update(final=True)
    assert out.getvalue().count("done") == 2 and "lamina: 2 newly submitted" in out.getvalue()


def test_import_stays_light_and_the_hook_is_lazy(client, prompts):
    code = (
        "import sys, lamina_jupyter; assert 'pandas' not in sys.modules, 'pandas imported'; "
        "f = lamina_jupyter.run_dataframe; assert 'pandas' in sys.modules; print(f.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "run_dataframe"
    result = prompts(2).lamina.run(TEXT_TO_IMAGE, client=client, progress=False)
    assert (result["lamina_status"] == "completed").all()
