"""The quickstart notebook runs clean under nbval, and `make demo`'s headless mode writes real files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KEY = re.compile(r"lma_[A-Za-z0-9_-]{8,}")

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("name", "mode"),
    [("quickstart", "--nbval-lax"), ("batch", "--nbval"),  # batch: every saved output must match too
     ("experiments", "--nbval-lax")],
)
def test_notebook_passes_nbval(tmp_path, name, mode):
    """nbval: every code cell runs without error (and, in strict mode or NBVAL_CHECK_OUTPUT cells,
    reproduces its saved output)."""
    notebook = REPO / "notebooks" / f"{name}.ipynb"
    code_cells = sum(c["cell_type"] == "code" for c in json.loads(notebook.read_text())["cells"])
    result = subprocess.run(
        [sys.executable, "-m", "pytest", mode, str(notebook), "-q", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), "-o", "addopts=", "-W", "ignore::DeprecationWarning"],
        cwd=tmp_path, capture_output=True, text=True, timeout=240, env=dict(os.environ))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert f"{code_cells} passed" in result.stdout, result.stdout[-500:]


def test_headless_demo_writes_html_and_images(tmp_path):
    out = tmp_path / "demo-output"
    result = subprocess.run([sys.executable, "-m", "lamina_jupyter.notebook.demo", "--headless",
                             "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    page = (out / "quickstart.html").read_text()
    assert "lighthouse" in page and "data:image/jpeg;base64," in page and "RunFailedError" in page
    assert not KEY.search(page)  # the demo key never reaches the rendered notebook
    pngs = list(out.glob("*.png"))
    assert pngs and all(p.read_bytes().startswith(b"\x89PNG") for p in pngs)
    assert str(out / "quickstart.html") in result.stdout and str(pngs[0]) in result.stdout


def test_demo_without_jupyterlab_runs_the_script_demo(tmp_path):
    """A plain `pip install` lacks JupyterLab: the demo still lists apps, runs one and saves a PNG."""
    code = ("import sys; sys.modules['jupyterlab'] = None\n"  # find_spec() now reports it missing
            "from lamina_jupyter.notebook.demo import main; raise SystemExit(main(['--out', 'out']))")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "jupyterlab not installed" in result.stdout and "Text to Image" in result.stdout
    pngs = list((tmp_path / "out").glob("*.png"))
    assert len(pngs) == 1 and pngs[0].read_bytes().startswith(b"\x89PNG")
    assert not KEY.search(result.stdout + result.stderr)
