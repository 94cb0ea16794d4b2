"""A form stays live while a synchronous batch blocks the kernel thread (issue 13 item 2).

The test's event loop plays the kernel's: the form is clicked on it, then `df.lamina.run(...)` blocks
it the way a cell running a batch blocks the kernel."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pandas as pd
import pytest
from suite import CAPTION_WRITER

pytestmark = pytest.mark.anyio


async def test_form_run_completes_and_shows_while_a_sync_batch_runs(session, emulator):
    from lamina_jupyter import form, run_dataframe

    tag = uuid.uuid4().hex[:8]
    emulator.configure(latency=0.5)
    f = form(CAPTION_WRITER)
    f.fields[0].set(f"form {tag}")
    seen: list[tuple[float, str, str]] = []
    f.status.observe(lambda change: seen.append((time.monotonic(), change["new"],
                                                 threading.current_thread().name)), names="value")
    f.run_button.click()
    df = pd.DataFrame({"Topic": [f"batch {tag} {i}" for i in range(10)]})
    result = run_dataframe(df, CAPTION_WRITER, client=session.current_client(), concurrency=1,
                           progress=False, journal=False)  # blocks this loop, like a cell in a kernel
    batch_ended = time.monotonic()
    assert (result["lamina_status"] == "completed").all()
    completed = [t for t, value, _ in seen if "completed" in value]
    assert completed and completed[0] < batch_ended - 1.0, seen  # shown well before the batch ended
    assert {name for _, _, name in seen} == {threading.main_thread().name}  # only the kernel thread
    run = await asyncio.wait_for(f.finished(), 30)
    assert run.status == "completed" and not f.run_button.disabled
