"""Rich views: everything from the API is escaped, only safe sources/links appear, thumbnails fit
the saved-notebook budget, and the core stays free of notebook imports."""

from __future__ import annotations

import base64
import io
import random
import re
import subprocess
import sys

from suite import TEXT_TO_IMAGE

from lamina_jupyter.core.models import App, Output, Parameter, Run
from lamina_jupyter.notebook.media import safe_img_src, safe_link, thumbnail_data_uri
from lamina_jupyter.notebook.views import AppTable, AppView, OutputView, RunView

EVIL = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def noisy_png(seed: int, size=(1024, 768)) -> bytes:
    """Random noise: the worst case for JPEG, so the budget is tested honestly."""
    from PIL import Image

    rng = random.Random(seed)
    img = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def image_output(url: str, fetch) -> Output:
    return Output(id="o", label="Image", type="image", value=url, status="completed", mime_type="image/png",
                  fetcher=fetch)


def test_api_text_is_escaped_everywhere():
    app = App(id=EVIL, name=EVIL, description=EVIL,
              parameters=(Parameter(id=EVIL, key=EVIL, name=EVIL, type="options", required=True,
                                    options=(EVIL,), default=EVIL, description=EVIL),),
              raw={"parameters": []})
    run = Run(id=EVIL, status="failed", error_message=EVIL,
              outputs=(Output(id=EVIL, label=EVIL, type="text", value=EVIL, status="completed"),
                       Output(id="x", label=EVIL, type="image", value=None, status="failed", error=EVIL)))
    for view in (AppView(app), AppTable([app]), RunView(run, 1.0, EVIL), OutputView(run.outputs[0])):
        page = view._repr_mimebundle_()["text/html"]
        assert "<script" not in page and "<img src=x" not in page
        assert "&lt;script&gt;" in page


def test_only_safe_sources_and_links():
    assert safe_link("javascript:alert(1)") is None and safe_link("data:text/html,x") is None
    assert safe_link("https://cdn.example/a.png") == "https://cdn.example/a.png"
    assert safe_img_src("data:image/svg+xml;base64,PHN2Zz4=") is None
    assert safe_img_src("data:text/html;base64,PGI+") is None
    assert safe_img_src("data:image/png;base64,iVBOR") is not None
    hostile = Output(id="o", label="x", type="image", value="javascript:alert(1)", status="completed")
    page = OutputView(hostile)._repr_mimebundle_()["text/html"]
    assert "href='javascript" not in page and "src='javascript" not in page


def test_remote_svg_or_html_is_never_inlined():
    svg = b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'></svg>"
    out = image_output("https://cdn.example/evil.svg", lambda url: svg)
    page = OutputView(out)._repr_mimebundle_()["text/html"]
    assert "<svg" not in page and "onload" not in page
    assert "no preview" in page and "href='https://cdn.example/evil.svg'" in page


def test_key_shaped_text_is_masked():
    out = Output(id="o", label="echo", type="text", value="key lma_ABCDEFGH12345678 leaked",
                 status="completed")
    bundle = OutputView(out)._repr_mimebundle_()
    assert "lma_ABCDEFGH12345678" not in bundle["text/html"] + bundle["text/plain"]


def test_thumbnail_is_a_small_decodable_jpeg():
    from PIL import Image

    uri = thumbnail_data_uri(noisy_png(1))
    assert uri.startswith("data:image/jpeg;base64,") and len(uri) <= 18_000
    img = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert img.format == "JPEG" and max(img.size) <= 256


def test_a_page_of_100_images_adds_at_most_2_mb():
    pictures = {f"https://cdn.example/{i}.png": noisy_png(i, (640, 480)) for i in range(100)}
    run = Run(id="r", status="completed",
              outputs=tuple(image_output(url, pictures.__getitem__) for url in pictures))
    bundle = RunView(run)._repr_mimebundle_()
    size = sum(len(v.encode()) for v in bundle.values())
    assert bundle["text/html"].count("data:image/jpeg;base64,") == 100
    assert size <= 2_000_000, size
    full = sum(len(b) for b in pictures.values())
    assert full > 50_000_000  # what embedding full size would have cost


def test_real_run_view_links_full_size_and_embeds_thumbnail(client):
    run = client.run(TEXT_TO_IMAGE, {"Prompt": "view test", "Aspect Ratio": "16:9"})
    bundle = RunView(run, 1.2, "Text to Image")._repr_mimebundle_()
    page = bundle["text/html"]
    assert f"href='{run.outputs[0].value}'" in page
    src = re.search(r"src='(data:image/jpeg;base64,[^']+)'", page).group(1)
    from PIL import Image

    thumb = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
    assert thumb.size == (256, 144)  # 640x360 shrunk, aspect kept
    assert run.id in bundle["text/plain"] and run.outputs[0].value in bundle["text/plain"]


def test_failed_output_and_unreachable_media_do_not_break_the_view():
    def broken(url):
        raise OSError("connection refused")

    run = Run(id="r", status="completed", outputs=(image_output("https://cdn.example/gone.png", broken),))
    page = RunView(run)._repr_mimebundle_()["text/html"]
    assert "no preview" in page and "https://cdn.example/gone.png" in page


def test_import_stays_light():
    code = ("import sys, lamina_jupyter\n"
            "heavy = {'IPython', 'ipywidgets', 'PIL', 'pandas'} & set(sys.modules);"
            "assert callable(lamina_jupyter.load_ipython_extension) and callable(lamina_jupyter.form);"
            "print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
