"""Results that carry their lineage: show() as static HTML, the download manifest, the frame's attrs
and the drift guard when the app's parameters changed since the frame ran."""

from __future__ import annotations

import base64
import io

import pandas as pd
import pytest
from PIL import Image
from suite import PRODUCT_SHOT

from lamina_jupyter import run_dataframe


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
