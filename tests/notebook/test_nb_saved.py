"""Saved and shared notebooks: where no kernel and no widget runs (nbconvert HTML, GitHub's viewer), a
notebook that ran still shows its results, and stays small enough to share.

Both shipped notebooks are executed with nbclient, with widget state stored (what JupyterLab's save does
when asked) and without, then exported to HTML by nbconvert."""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PLACEHOLDERS = ["Loading widget", "Error displaying widget", "model not found"]
WIDGET_REPR = re.compile(r"^(VBox|HBox|HTML|Output|Image|Box)\(")
FORM_LINE = "Lamina form for 'Text to Image' (a widget: run this cell in Jupyter to use it"
# thumbnails, not full media: per output and per notebook, as saved
MAX_OUTPUT = 300_000
THUMB = 256  # the longest side of any image a saved notebook carries
MAX_TOTAL = {"quickstart.ipynb": 2_000_000, "batch.ipynb": 2_000_000}
# images a reader must see: the quickstart's two run views and its PIL thumbnail; the batch's progress
# summary, gallery and grid thumbnails (12 rows)
MIN_IMAGES = {"quickstart.ipynb": 3, "batch.ipynb": 24}


@pytest.fixture(scope="module", params=[(nb, store) for nb in sorted(MAX_TOTAL) for store in (True, False)],
                ids=lambda p: f"{p[0].split('.')[0]}-{'state' if p[1] else 'nostate'}")
def saved(request, tmp_path_factory):
    """(name, whether widget state was stored, the saved .ipynb text, its HTML export)."""
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    name, store = request.param
    root = tmp_path_factory.mktemp("saved") / "notebooks"
    shutil.copytree(NOTEBOOKS, root)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")}
    env["HOME"] = str(root.parent)
    nb = nbformat.read(root / name, as_version=4)
    nb.metadata.pop("widgets", None)  # only what this execution stores counts
    NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=store,
                   resources={"metadata": {"path": str(root)}}).execute(env=env)
    assert ("widgets" in nb.metadata) == store
    body, _ = HTMLExporter().from_notebook_node(nb, resources={"metadata": {"path": str(root), "name": name}})
    return name, store, nbformat.writes(nb), body


def outputs(text: str):
    return [o for c in json.loads(text)["cells"] if c["cell_type"] == "code" for o in c["outputs"]]


def test_every_cell_ran_without_error(saved):
    _, _, text, _ = saved
    errors = [f"{o['ename']}: {o['evalue']}" for o in outputs(text) if o["output_type"] == "error"]
    assert not errors


def test_the_html_shows_the_images(saved):
    name, _, _, body = saved
    images = re.findall(r"""src=["']data:image/(?:png|jpeg|gif|webp);base64,([A-Za-z0-9+/=]+)""", body)
    assert len(images) >= MIN_IMAGES[name], f"{len(images)} embedded images in {name}'s HTML"
    assert all(len(base64.b64decode(i)) > 100 for i in images)


def test_no_widget_placeholder_where_results_should_be(saved):
    name, store, text, body = saved
    for bad in PLACEHOLDERS:
        assert bad not in body and bad not in text
    for out in outputs(text):
        plain = "".join(out.get("data", {}).get("text/plain", ""))
        # a widget's text/plain is what viewers without widgets show: never a bare widget repr
        assert not WIDGET_REPR.match(plain), plain[:200]
    if name == "quickstart.ipynb":
        # the form: its line says what it is and how to open it, shown where its widget cannot be
        assert FORM_LINE in text
        assert (FORM_LINE in html.unescape(body)) != store
        if store:
            assert f"<script type=\"{WIDGET_VIEW}\">" in body  # rendered from the saved state instead


def test_the_saved_notebook_stays_small(saved):
    name, _, text, _ = saved
    sizes = [len(json.dumps(o)) for o in outputs(text)]
    assert max(sizes) < MAX_OUTPUT, f"an output of {max(sizes)} bytes in {name}"
    assert len(text) < MAX_TOTAL[name], f"{name} saved as {len(text)} bytes"


def test_the_saved_notebook_carries_thumbnails_not_full_media(saved):
    from PIL import Image

    name, _, text, _ = saved
    embedded = re.findall(r"data:image/[a-z]+;base64,([A-Za-z0-9+/=]+)", text)
    embedded += ["".join(data) for o in outputs(text) for kind, data in o.get("data", {}).items()
                 if kind.startswith("image/")]
    sizes = [Image.open(io.BytesIO(base64.b64decode(b))).size for b in embedded]
    assert sizes and max(max(s) for s in sizes) <= THUMB, f"{name}: images of {sizes}"
