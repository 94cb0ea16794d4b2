"""What a batch leaves in a notebook (issue 13 items 4 and 6): a static summary instead of the live
widget (a saved notebook shows text, not `HTML(value=...)`), and a LaminaError from df.lamina.run as
one clear line, like the magic's errors. A real InteractiveShell, real widgets, real pandas."""

from __future__ import annotations

import uuid

import pytest

WIDGET = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def frame(shell):
    tag = uuid.uuid4().hex[:8]
    shell.run_cell(f"import pandas as pd\ndf = pd.DataFrame({{'Topic': ['{tag} a', '{tag} b']}})")


def test_a_finished_batch_leaves_a_static_summary(session, frame, run_cell, shell, monkeypatch):
    from lamina_jupyter.batch import progress

    monkeypatch.setattr(progress, "in_kernel", lambda: True)  # the shell plays a kernel: widgets on
    cell = run_cell("result = df.lamina.run('Caption Writer', journal=False)")
    assert cell.error is None, cell.text()
    assert WIDGET in cell.bundles[0]  # live while it runs
    last = cell.bundles[-1]
    assert WIDGET not in last and "HTML(value=" not in last["text/plain"]
    assert "2/2 done" in last["text/plain"] and "2 newly submitted" in last["text/plain"]
    assert "2/2 done" in last["text/html"] and "<div" in last["text/html"]


def test_lamina_error_from_the_accessor_is_one_line(session, frame, run_cell):
    from lamina_jupyter import LaminaError

    cell = run_cell("df.lamina.run('No Such App', journal=False)")
    assert isinstance(cell.error, LaminaError)
    text = cell.text()
    assert "Traceback" not in text and "site-packages" not in text and "lamina_jupyter/" not in text, text
    assert "NotFoundError: " in text and "No such App".lower() in text.lower()
    assert len([line for line in text.splitlines() if line.strip()]) <= 3, text
