"""Progress and results that tell the truth (issue 13 items 3 and 8): interrupted rows keep the state
they were last seen in, cancelled runs are reported as cancelled, the ETA follows the pace of new
runs and the rate budget, and the gallery explains what it cannot show."""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import pandas as pd
import pytest
from suite import TEXT_TO_IMAGE

from lamina_jupyter import arun_dataframe, run_dataframe
from lamina_jupyter.batch.progress import Tracker, render_html, render_text


def stuck_rows(n: int) -> pd.DataFrame:
    tag = uuid.uuid4().hex[:8]
    return pd.DataFrame({"prompt": [f"{tag} stuck {i} #stuck" for i in range(n)]})


def seen_running(client, monkeypatch) -> set[str]:
    """The ids of runs whose event stream has told the batch "running". The batch follows each run
    with client.wait(on_update=...); this passes each update on, then notes it, so a run listed here
    is one the batch has already recorded as running (no sleep that must outlast the stream)."""
    seen: set[str] = set()
    follow = client.wait

    async def wait(run, **kw):
        told = kw.get("on_update")
        if told is not None:
            def update(r):
                told(r)
                if r.status == "running":
                    seen.add(r.id)

            kw["on_update"] = update
        return await follow(run, **kw)

    monkeypatch.setattr(client, "wait", wait)
    return seen


async def until_seen(seen: set[str], count: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while len(seen) < count:
        assert time.monotonic() < deadline, f"only {len(seen)} of {count} runs were seen running"
        await asyncio.sleep(0.05)


@pytest.mark.anyio
async def test_interrupted_rows_read_the_state_they_were_last_seen_in(async_client, emulator, monkeypatch):
    df = stuck_rows(3)
    seen = seen_running(async_client, monkeypatch)
    task = asyncio.ensure_future(arun_dataframe(df, TEXT_TO_IMAGE, client=async_client, progress=False,
                                                journal=False))
    await until_seen(seen, 3)
    task.cancel()
    partial = await task
    assert list(partial["lamina_status"]) == ["running"] * 3, partial[["lamina_status", "lamina_error"]]


@pytest.mark.anyio
async def test_cancel_in_flight_says_cancelled_not_kept(async_client, emulator, capsys, monkeypatch):
    df = stuck_rows(3)
    seen = seen_running(async_client, monkeypatch)
    task = asyncio.ensure_future(arun_dataframe(df, TEXT_TO_IMAGE, client=async_client, progress=True,
                                                journal=False, cancel_in_flight=True))
    await until_seen(seen, 3)
    task.cancel()
    partial = await task
    assert list(partial["lamina_status"]) == ["cancelled"] * 3
    err = capsys.readouterr().err
    assert "3 run(s) in flight were cancelled" in err and "kept in the ledger" not in err, err
    last = [line for line in err.splitlines() if "done" in line][-1]
    assert "cancelled 3" in last and "failed 0" in last, last


def test_eta_ignores_reused_rows():
    tracker = Tracker(30)
    for position in range(20):  # reused from the ledger: finished before this batch began
        tracker.set(position, "completed")
    for position in (20, 21, 22):
        tracker.set(position, "queued")
        time.sleep(0.2)
        tracker.set(position, "completed")
    eta = tracker.snapshot()["eta"]
    assert eta is not None and eta >= 7 * 0.2 * 0.8, eta  # 7 rows left at ~0.2 s each


def test_eta_respects_the_rate_budget():
    tracker = Tracker(12, request_interval=lambda: 1.5)  # 40 requests/min
    for position in (0, 1):
        tracker.set(position, "queued")
        tracker.set(position, "completed")  # two quick finishes: the pace alone says "instant"
    eta = tracker.snapshot()["eta"]
    assert eta is not None and eta >= 10 * 2 * 1.5, eta  # each new run costs start + stream


def test_counts_follow_each_row_to_its_last_state():
    """A row counts once, in its latest state; a retry's rows keep their frame positions (past the
    number of rows retried) and skipped rows show only when there are some."""
    tracker = Tracker(3)  # retry_failed of 3 rows of a 1,000-row frame
    for position in (10, 500, 999):
        tracker.set(position, "queued")
    assert tracker.snapshot()["counts"] == {
        "waiting": 0, "queued": 3, "running": 0, "completed": 0, "failed": 0, "cancelled": 0}
    tracker.set(10, "running")
    tracker.set(10, "completed")
    tracker.set(500, "uncertain")
    tracker.set(999, "skipped")
    snap = tracker.snapshot()
    assert snap["counts"] == {"waiting": 0, "queued": 0, "running": 0, "completed": 1, "failed": 1,
                              "cancelled": 0, "skipped": 1}
    assert snap["done"] == 3


def test_cancelled_rows_have_their_own_count_and_colour():
    tracker = Tracker(3)
    tracker.set(0, "cancelled")
    tracker.set(1, "failed")
    snap = tracker.snapshot()
    assert snap["counts"]["cancelled"] == 1 and snap["counts"]["failed"] == 1 and snap["done"] == 2
    assert "cancelled 1" in render_text(snap) and "#9ca3af" in render_html(snap)


def test_gallery_of_a_frame_that_is_not_a_result_says_so():
    with pytest.raises(ValueError, match=r"no outputs to show.*df\.lamina\.run"):
        pd.DataFrame({"prompt": ["a", "b"], "n": [1, 2]}).lamina.gallery()


def test_failed_tiles_show_the_error_not_nan(client, emulator):
    tag = uuid.uuid4().hex[:8]
    df = pd.DataFrame({"prompt": [f"{tag} ok", f"{tag} bad #fail"]})
    result = run_dataframe(df, TEXT_TO_IMAGE, client=client, progress=False, journal=False)
    assert list(result["lamina_status"]) == ["completed", "failed"]
    html = result.lamina.gallery(thumb=32)._repr_html_()
    assert not re.search(r"\bnan\b", html, re.IGNORECASE), html
    assert "timed out" in html  # the run's error stands in for the image
