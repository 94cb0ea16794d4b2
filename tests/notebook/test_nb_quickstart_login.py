"""The quickstart as a user with a key runs it (issue 13's done-criterion): `%lamina demo` replaced by
`%lamina login --base-url <emulator>`, the hidden prompt answered by a getpass patched in the kernel,
every cell executed top to bottom by nbclient in a real kernel, and the key in no output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_quickstart_runs_top_to_bottom_after_login(emulator, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(REPO / "notebooks" / "quickstart.ipynb", as_version=4)
    setup = [i for i, c in enumerate(nb.cells) if "%lamina demo" in c.source and c.cell_type == "code"]
    assert len(setup) == 1
    cell = nb.cells[setup[0]]
    cell.source = cell.source.replace("%lamina demo", f"%lamina login --base-url {emulator.base_url}")
    # The hidden prompt, scripted: nbclient has no stdin, so the kernel's getpass (ipykernel installs it
    # as getpass.getpass for every cell) reads the key from an environment variable the kernel inherits.
    prompt = nbformat.v4.new_code_cell(
        "import os\nget_ipython().kernel.getpass = lambda prompt='', **kw: os.environ.pop('TYPED_AT_PROMPT')")
    nb.cells.insert(setup[0], prompt)
    monkeypatch.setenv("TYPED_AT_PROMPT", emulator.api_key)
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})  # the kernel inherits os.environ
    client.execute()  # raises CellExecutionError naming the cell if any cell fails
    outputs = json.dumps([c.get("outputs", []) for c in nb.cells])
    assert "Logged in to " + emulator.base_url in outputs
    assert "lighthouse" in json.dumps([r["inputs"] for r in emulator.runs()])
    assert "paper boat" in json.dumps([r["inputs"] for r in emulator.runs()])  # the plain Client() cell
    assert emulator.api_key not in outputs
