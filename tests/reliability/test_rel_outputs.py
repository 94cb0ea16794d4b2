"""Fault matrix D23/D24: outputs that are not what they claim. Output URLs that 404, serve an HTML
page, or use javascript:/file: schemes; a 50 MB image; decompression bombs. Every case ends in a
clear error or a placeholder: no crash, no fetch for non-http(s) URLs, API text escaped in every
mimebundle, and both the embedded preview and the memory used stay small."""

from __future__ import annotations

import os
import struct
import tracemalloc
import zlib

import pytest
from wire_faults import Respond, WireServer

from lamina_jupyter.core.models import Output, Run
from lamina_jupyter.notebook.media import (
    GIF_INLINE_BYTES,
    GIF_PIXEL_BUDGET,
    PREVIEW_BYTES,
    THUMB_BYTES,
    animated_gif,
)
from lamina_jupyter.notebook.views import MAX_SHOWN_OUTPUTS, OutputView, RunView

HOSTILE = "<img src=x onerror=alert(1)>"
PAGE = "<!doctype html><html><body><script>alert(1)</script>expired</body></html>"


def image_output(url: str) -> Output:
    return Output.from_json({"id": "o1", "label": HOSTILE, "type": "image", "status": "completed",
                             "mimeType": "image/png", "value": url})


def bundles(output: Output) -> list[dict[str, str]]:
    run = Run(id="run_<b>1</b>", status="completed", error_message=HOSTILE, outputs=(output,))
    return [OutputView(output)._repr_mimebundle_(), RunView(run, 1.0, HOSTILE)._repr_mimebundle_()]


def raw_tags(bundle: dict[str, str]) -> int:
    """API text that reached the HTML unescaped (our own markup never contains these)."""
    page = bundle["text/html"]
    return page.count("<img src=x") + page.count("<script") + page.count("<b>1</b>")


def png(width: int, height: int, rows: bytes | None = None) -> bytes:
    """An 8-bit RGB PNG; without `rows` only the header (enough for Pillow's bomb check)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(rows if rows is not None else b"\0", 0))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")


# D24: the URL of an image output is broken or hostile ------------------------------------------------
@pytest.mark.parametrize("case", ["http_404", "html_page", "javascript", "file"])
def test_broken_or_hostile_image_url_is_a_clear_error_and_a_safe_placeholder(scenario, case, tmp_path):
    real = tmp_path / "real.png"
    real.write_bytes(png(8, 8, b"".join(b"\0" + os.urandom(24) for _ in range(8))))
    answer = Respond(404, PAGE, {"Content-Type": "text/html"}) if case == "http_404" else \
        Respond(200, PAGE, {"Content-Type": "text/html"}, fault=True)
    with WireServer(fallback=answer) as wire:
        url = {"http_404": f"{wire.base_url}/media/gone.png", "html_page": f"{wire.base_url}/media/page.png",
               "javascript": f"javascript:alert(1)//{wire.base_url}/media/x.png",
               "file": real.as_uri()}[case]
        out = image_output(url)
        expected = {"http_404": "HTTP 404", "html_page": "not an image .*an HTML page",
                    "javascript": "nothing was fetched", "file": "nothing was fetched"}[case]
        with pytest.raises(ValueError, match=expected) as info:
            out.image()
        shown = bundles(out)
        fetched = len(wire.requests)
    scenario.add(faults_injected=1 + len(shown))  # image() and each view met the bad URL
    assert len(str(info.value)) < 400 and "<script" not in str(info.value)
    assert sum(raw_tags(b) for b in shown) == 0
    pages = [b["text/html"] for b in shown]
    if case in ("javascript", "file"):
        assert fetched == 0  # never fetched, never linked, never embedded
        safe = [not (f"='{url[:10]}" in p or "data:image" in p) for p in pages]
    else:
        assert fetched == 3 == wire.fired  # image() once, each view once (failures are not cached)
        reason = "HTTP 404" if case == "http_404" else "not a usable image"
        safe = ["no preview" in p and f"href='{url}'" in p and reason in p for p in pages]
    assert all(safe)


# D23: a 50 MB image and decompression bombs ----------------------------------------------------------
def test_50_mb_image_previews_as_a_small_thumbnail_with_bounded_memory(scenario):
    width = height = 4096  # incompressible RGB rows, stored: a 50 MB PNG
    rows = bytearray(os.urandom(height * (1 + 3 * width)))
    rows[:: 1 + 3 * width] = bytes(height)  # filter byte 0 on every row
    data = png(width, height, bytes(rows))
    del rows
    assert len(data) > 50_000_000
    scenario.add(faults_injected=1)
    with WireServer(fallback=Respond(200, data, {"Content-Type": "image/png"})) as wire:
        out = image_output(f"{wire.base_url}/media/huge.png")
        run = Run(id="run_huge", status="completed", outputs=(out,))
        tracemalloc.start()
        try:
            bundle = RunView(run)._repr_mimebundle_()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    page = bundle["text/html"]
    embedded = sum(len(v.encode()) for v in bundle.values())
    thumb = page.split("src='", 1)[1].split("'", 1)[0]
    assert thumb.startswith("data:image/jpeg;base64,") and len(thumb) <= THUMB_BYTES
    assert embedded <= 200_000, embedded
    assert peak <= 1.3 * len(data), f"download peak {peak / 1e6:.0f} MB for a {len(data) / 1e6:.0f} MB image"
    assert wire.count("GET /media/huge.png") == 1


def test_image_too_big_to_preview_is_linked_not_downloaded_whole(scenario):
    huge = b"\x89PNG\r\n\x1a\n" + bytes(PREVIEW_BYTES + 8 * 1024 * 1024)  # 72 MB
    scenario.add(faults_injected=1)
    with WireServer(fallback=Respond(200, huge, {"Content-Type": "image/png"})) as wire:
        out = image_output(f"{wire.base_url}/media/poster.png")
        tracemalloc.start()
        try:
            page = OutputView(out)._repr_mimebundle_()["text/html"]
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert f"larger than {PREVIEW_BYTES} bytes" in page and f"href='{out.value}'" in page
    assert "data:image" not in page and peak < PREVIEW_BYTES + 8 * 1024 * 1024, peak
    assert "no preview" in page


@pytest.mark.parametrize("side", [20_000, 10_000])  # over 2x Pillow's limit (error); over 1x (warning)
def test_decompression_bomb_is_refused_with_a_clear_message(scenario, side):
    with WireServer(fallback=Respond(200, png(side, side), {"Content-Type": "image/png"})) as wire:
        out = image_output(f"{wire.base_url}/media/bomb.png")
        with pytest.raises(ValueError, match="refusing to decode .*exceeds limit") as info:
            out.image()
        shown = bundles(out)
    scenario.add(faults_injected=1 + len(shown))
    assert f"{side * side} pixels" in str(info.value) and ".save(path)" in str(info.value)
    refused = [("no preview: too many pixels" in b["text/html"]) for b in shown]
    assert all(refused) and sum(raw_tags(b) for b in shown) == 0


# Issue 12 item 4: a run with thousands of outputs, an animation that decodes past the pixel budget ---
def test_a_run_with_2000_image_outputs_shows_a_bounded_page_and_says_how_to_get_the_rest(scenario):
    scenario.add(faults_injected=1)  # declared before the checks
    tiny = png(8, 8, b"".join(b"\0" + bytes(24) for _ in range(8)))
    with WireServer(fallback=Respond(200, tiny, {"Content-Type": "image/png"})) as wire:
        outputs = tuple(Output.from_json({"id": f"o{i}", "label": f"frame {i}", "type": "image",
                                          "status": "completed", "mimeType": "image/png",
                                          "value": f"{wire.base_url}/media/{i}.png"}) for i in range(2000))
        run = Run(id="run_many", status="completed", outputs=outputs)
        bundle = RunView(run)._repr_mimebundle_()
        fetched = len(wire.requests)
    page, text = bundle["text/html"], bundle["text/plain"]
    shown = page.count("class='lamina-output'")
    assert shown == MAX_SHOWN_OUTPUTS and fetched <= MAX_SHOWN_OUTPUTS
    more = 2000 - MAX_SHOWN_OUTPUTS
    assert f"{more} more outputs" in page and "run.outputs" in page
    assert f"{more} more outputs" in text and text.count("frame ") == MAX_SHOWN_OUTPUTS
    assert len(page) < 1_000_000


def gif_with_canvas(side: int, frames: int) -> bytes:
    """A GIF whose frames are 1x1 pixels on a side x side canvas: tiny to send, but Pillow decodes
    every frame at the canvas size."""
    pixel = b"\x2c" + struct.pack("<HHHH", 0, 0, 1, 1) + b"\x00\x02\x02\x44\x01\x00"
    control = b"\x21\xf9\x04\x00\x0a\x00\x00\x00"  # 0.1 s per frame
    screen = struct.pack("<HH", side, side) + b"\x80\x00\x00" + b"\x00\x00\x00\xff\xff\xff"
    return b"GIF89a" + screen + (control + pixel) * frames + b"\x3b"


def test_an_animation_whose_frames_exceed_the_pixel_budget_is_not_decoded_whole(scenario):
    scenario.add(faults_injected=1)  # declared before the checks
    data = gif_with_canvas(4000, 4000)  # 16 M pixels a frame; 48 frames would decode 768 M
    assert len(data) > GIF_INLINE_BYTES and GIF_PIXEL_BUDGET < 4000 * 4000 * 48
    assert animated_gif(data) is None  # stopped at the budget: the view embeds a still thumbnail
    with WireServer(fallback=Respond(200, data, {"Content-Type": "image/gif"})) as wire:
        clip = Output.from_json({"id": "o1", "label": "clip", "type": "image", "status": "completed",
                                 "mimeType": "image/gif", "value": f"{wire.base_url}/media/clip.gif"})
        page = OutputView(clip)._repr_mimebundle_()["text/html"]
    assert "data:image/jpeg;base64," in page and "data:image/gif" not in page


# Issue 12 item 5: a result frame whose labels, index and run ids are paths --------------------------
HOSTILE_NAMES = {"dotdot_label": ("..", "conftest", "x"), "dotdot_index": ("Front", "r1", ".."),
                 "dotdot_everything": ("..", "..", ".."), "long_label": ("L" * 300, "r1", "x")}


@pytest.mark.parametrize("case", list(HOSTILE_NAMES))
def test_download_of_a_hostile_frame_writes_only_inside_its_folder(scenario, case, tmp_path, monkeypatch):
    import pandas as pd

    from lamina_jupyter.batch.gallery import download

    label, run_id, index = HOSTILE_NAMES[case]
    script = b"import os\nos.system('echo pwned')\n"
    monkeypatch.chdir(tmp_path)
    with WireServer(fallback=Respond(200, script, {"Content-Type": "text/x-python"})) as wire:
        frame = pd.DataFrame({"Front": [f"{wire.base_url}/media/conftest.py"] * 2,
                              "lamina_run_id": [run_id] * 2}, index=[index, index])
        frame.attrs["lamina"] = {"outputs": [{"column": "Front", "label": label, "type": "image"}]}
        saved = download(frame, "out/{label}/{index}/{run_id}.{ext}")
    files = [p for p in tmp_path.rglob("*") if p.is_file()]  # the two outputs and their manifest
    inside = [p.resolve().is_relative_to((tmp_path / "out").resolve()) for p in files]
    media = [p for p in files if p.name not in ("manifest.csv", "manifest.json")]
    assert len(media) == 2 and len(files) == 4 and all(inside) and not any(p.suffix == ".py" for p in files)
    assert len(set(saved["Front_local_path"])) == 2
    scenario.add(faults_injected=2, faults_survived=sum(inside))
