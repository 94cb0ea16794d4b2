"""Media: real, deterministic Pillow output; sizes from the aspect ratio; uploads as url inputs."""

from __future__ import annotations

import io
import socket

from emulator_helpers import start, wait
from PIL import Image
from suite import CAPTION_WRITER, CARTOONIFY, TEASER_CLIP, TEXT_TO_IMAGE
from suite import PRODUCT_SHOT as PRODUCT_SHOTS


def output_bytes(http, app_id, inputs, index=0):
    data = wait(http, start(http, app_id, inputs)["runId"])
    assert data["status"] == "completed", data
    out = data["outputs"][index]
    response = http.get(out["value"])
    assert response.status_code == 200
    return out, response


def test_same_inputs_same_bytes_different_inputs_differ(http):
    _, a = output_bytes(http, TEXT_TO_IMAGE, {"prompt_text": "a lighthouse", "style": "Neon"})
    _, b = output_bytes(http, TEXT_TO_IMAGE, {"Prompt": "a lighthouse", "Style": "Neon"})
    _, c = output_bytes(http, TEXT_TO_IMAGE, {"prompt_text": "a lighthouse", "style": "Watercolor"})
    assert a.content == b.content != c.content
    assert a.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(a.content)).format == "PNG"


def test_aspect_ratio_sets_the_size(http):
    expected = {
        "1:1": (512, 512),
        "16:9": (640, 360),
        "9:16": (360, 640),
        "4:3": (640, 480),
        "3:4": (480, 640),
    }
    for ratio, size in expected.items():
        out, response = output_bytes(http, TEXT_TO_IMAGE, {"prompt_text": "size", "aspect_ratio": ratio})
        assert Image.open(io.BytesIO(response.content)).size == size
        assert out["dimensions"] == {"width": size[0], "height": size[1]} and out["mimeType"] == "image/png"


def test_product_shots_make_two_images_and_a_caption(http):
    data = wait(http, start(http, PRODUCT_SHOTS, {"product_text": "a teapot", "background": "Park"})["runId"])
    front, back, caption = data["outputs"]
    assert front["type"] == back["type"] == "image" and caption["type"] == "text"
    assert http.get(front["value"]).content != http.get(back["value"]).content
    assert caption["value"] == "a teapot, photographed in a park setting."


def test_caption_writer_returns_text_in_value(http):
    data = wait(http, start(http, CAPTION_WRITER, {"topic_text": "coffee", "tone": "Poetic"})["runId"])
    assert "coffee" in data["outputs"][0]["value"] and data["outputs"][0]["type"] == "text"


def test_teaser_clip_is_an_animated_gif(http):
    out, response = output_bytes(http, TEASER_CLIP, {"prompt_text": "waves", "duration": "4s"})
    assert out["type"] == "video" and out["mimeType"] == "image/gif" and out["durationSeconds"] == 4
    assert response.headers["content-type"] == "image/gif"
    gif = Image.open(io.BytesIO(response.content))
    assert gif.format == "GIF" and gif.n_frames == 16


def test_cartoonify_default_sample_and_unknown_media_404(http, anon):
    out, response = output_bytes(http, CARTOONIFY, {"aspect_ratio": "4:3"})
    assert Image.open(io.BytesIO(response.content)).size == (640, 480)
    assert anon.get("/media/outputs/does-not-exist.png").status_code == 404


def test_upload_then_use_as_url_input(emulator, http, anon):
    before = emulator.stats["uploads"]
    body = {"files": [{"filename": "me.png", "mediaType": "image"}]}
    upload = http.post("/v1/assets/upload-urls", json=body).json()["data"]["uploads"][0]
    assert (
        upload["contentTypeHint"] == "image/png" and upload["assetId"] and upload["expiresAt"].endswith("Z")
    )
    assert anon.get(upload["assetUrl"]).status_code == 404  # nothing uploaded yet
    picture = Image.new("RGB", (300, 200), (200, 30, 30))
    buf = io.BytesIO()
    picture.save(buf, format="PNG")
    put = anon.put(upload["uploadUrl"], content=buf.getvalue(), headers={"Content-Type": "image/png"})
    assert put.status_code == 200 and emulator.stats["uploads"] == before + 1
    served = anon.get(upload["assetUrl"])
    assert served.content == buf.getvalue() and served.headers["content-type"] == "image/png"
    out, cartoon = output_bytes(http, CARTOONIFY, {"your_photo_image_url": upload["assetUrl"]})
    assert Image.open(io.BytesIO(cartoon.content)).size == (512, 512)
    _, default = output_bytes(http, CARTOONIFY, {})
    assert cartoon.content != default.content  # really made from the upload


def test_upload_url_validation(http, anon):
    for files in (None, [], [{"filename": "a/b.png"}], [{"filename": "x.png", "mediaType": "pdf"}]):
        response = http.post("/v1/assets/upload-urls", json={"files": files})
        assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"
    assert anon.put("/uploads/forged-token", content=b"x").status_code == 404


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_url_fails_the_run_naming_the_url(http):
    url = f"http://127.0.0.1:{closed_port()}/photo.png"
    data = wait(http, start(http, CARTOONIFY, {"Upload": url})["runId"])
    assert data["status"] == "failed" and url in data["errorMessage"]
    assert data["outputs"][0]["status"] == "error"


def test_non_image_url_fails_the_run(http, emulator):
    data = wait(http, start(http, CARTOONIFY, {"Upload": f"{emulator.base_url}/v1/apps"})["runId"])
    assert data["status"] == "failed" and "/v1/apps" in data["errorMessage"]
