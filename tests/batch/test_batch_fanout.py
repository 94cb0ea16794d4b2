"""The fan-out against the real emulator: order, concurrency cap, request economy, failures per row,
rate limits, retry_failed, ledger reuse, sync entry inside a running loop, interrupts."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import pytest
from suite import TEXT_TO_IMAGE, route_count

from lamina_jupyter import arun_dataframe, run_dataframe
from lamina_jupyter.batch.drive import release_spare
from lamina_jupyter.batch.ledger import DEFAULT_PATH, Journal

POST, STREAM = "POST /v1/apps/{id}/runs", "GET /v1/runs/{id}/stream"


def one_done_one_in_flight(ledger: Journal) -> bool:
    """The moment the interrupt tests stop a batch: a row finished and another row's run is on."""
    states = ledger.states()
    return states.get("TERMINAL", 0) > 0 and states.get("SUBMITTED", 0) > 0


def test_progress_sees_rows_go_queued_running_completed(client, emulator, prompts, monkeypatch):
    """The event stream that follows each run feeds the progress display live (a spy on the real
    Tracker records what it was told; behaviour unchanged)."""
    from lamina_jupyter.batch import progress

    seen: dict[int, list[str]] = {}
    original = progress.Tracker.set

    def spy(self, position, state):
        seen.setdefault(position, []).append(state)
        return original(self, position, state)

    monkeypatch.setattr(progress.Tracker, "set", spy)
    emulator.configure(latency=0.6)
    result = run_dataframe(prompts(6), TEXT_TO_IMAGE, client=client, concurrency=6, progress=False)
    assert (result["lamina_status"] == "completed").all()
    for states in seen.values():
        assert "running" in states and states[-1] == "completed"
        assert states.index("running") < states.index("completed")


def test_200_rows_keep_order_cap_concurrency_and_cost_two_requests_each(client, emulator, prompts):
    emulator.configure(latency=0.2, jitter=0.1)
    emulator.reset_stats()
    df = prompts(210, fail_every=10)
    result = run_dataframe(df, TEXT_TO_IMAGE, client=client, concurrency=12, progress=False)
    assert list(result.index) == list(df.index)
    assert list(result["prompt"]) == list(df["prompt"])
    failing = df["prompt"].str.contains("#fail")
    assert (result.loc[failing, "lamina_status"] == "failed").all()
    assert result.loc[failing, "lamina_error"].str.len().gt(0).all()
    assert result.loc[failing, "Image"].isna().all()
    assert (result.loc[~failing, "lamina_status"] == "completed").all()
    assert result.loc[~failing, "Image"].str.startswith(emulator.base_url).all()
    assert result["lamina_run_id"].nunique() == 210
    assert (result["lamina_seconds"] > 0).all()
    stats = emulator.stats
    assert stats["peak_running"] <= 12
    assert stats["runs_created"] == 210 and stats["duplicate_starts"] == 0
    assert route_count(emulator, POST) == 210 and route_count(emulator, STREAM) == 210
    # the app and the rate limit once, then start + one event stream per run
    assert emulator.stats["requests"] == 2 + 2 * 210
    assert result.lamina.report["submitted"] == 210


def test_seeded_failure_rate_failures_stay_per_row(client, emulator, prompts):
    emulator.configure(failure_rate=0.3)
    df = prompts(60)
    result = run_dataframe(df, TEXT_TO_IMAGE, client=client, concurrency=16, progress=False)
    server = {r["run_id"]: r["status"] for r in emulator.runs()}
    assert [server[rid] for rid in result["lamina_run_id"]] == list(result["lamina_status"])
    failed = (result["lamina_status"] == "failed").sum()
    assert 5 < failed < 40  # siblings kept going: every row has its own outcome
    assert (result["lamina_status"] == "completed").sum() == 60 - failed


def test_rate_limit_is_honoured_without_failed_rows(client, emulator, prompts):
    # 100 requests per window; time_factor 0.05 makes the window 3 s, so 80 rows (160+ requests) hit it
    emulator.configure(rate_limit=100, time_factor=0.05, latency=0.05)
    emulator.reset_stats()
    result = run_dataframe(prompts(80), TEXT_TO_IMAGE, client=client, concurrency=16, progress=False)
    assert (result["lamina_status"] == "completed").all()
    assert emulator.stats["runs_created"] == 80 and emulator.stats["duplicate_starts"] == 0


def test_rerun_reuses_the_ledger_and_retry_failed_reruns_only_failures(client, emulator, prompts):
    df = prompts(12, fail_every=4)
    first = run_dataframe(df, TEXT_TO_IMAGE, client=client, progress=False)
    emulator.reset_stats()
    again = run_dataframe(df, TEXT_TO_IMAGE, client=client, progress=False)
    assert emulator.stats["runs_created"] == 0
    assert again.lamina.report["reused"] == 12
    assert list(again["lamina_run_id"]) == list(first["lamina_run_id"])
    retried = first.lamina.retry_failed()
    failed = first["lamina_status"] == "failed"
    assert emulator.stats["runs_created"] == failed.sum() == 3
    assert (retried.loc[~failed, "lamina_run_id"] == first.loc[~failed, "lamina_run_id"]).all()
    assert not set(retried.loc[failed, "lamina_run_id"]) & set(first["lamina_run_id"])
    assert retried.lamina.report["submitted"] == 3


def test_duplicate_rows_are_two_runs(client, emulator, prompts):
    df = prompts(1)
    df = df.loc[[df.index[0], df.index[0]]]  # same index label, same inputs
    emulator.reset_stats()
    result = run_dataframe(df, TEXT_TO_IMAGE, client=client, progress=False)
    assert result["lamina_run_id"].nunique() == 2
    assert emulator.stats["runs_created"] == 2


@pytest.mark.anyio
async def test_sync_entry_point_inside_a_running_loop(client, emulator, prompts):
    asyncio.get_running_loop()  # like a notebook cell: a loop is running on this thread
    result = run_dataframe(prompts(5), TEXT_TO_IMAGE, client=client, progress=False)
    assert (result["lamina_status"] == "completed").all()


@pytest.mark.anyio
async def test_async_entry_point_and_accessor(async_client, emulator, prompts):
    df = prompts(6, fail_every=3)
    result = await arun_dataframe(df, TEXT_TO_IMAGE, client=async_client, progress=False)
    assert list(result["lamina_status"]) == ["failed", "completed", "completed"] * 2
    again = await df.lamina.arun(TEXT_TO_IMAGE, client=async_client, progress=False)
    assert again.lamina.report["reused"] == 6


@pytest.mark.anyio
async def test_task_cancellation_returns_partial_frame_and_rerun_resumes(async_client, emulator, prompts):
    emulator.configure(latency=0.6)
    emulator.reset_stats()
    df = prompts(24)
    with Journal(DEFAULT_PATH) as ledger:  # the batch's own ledger (journal=True), read on its loop
        task = asyncio.ensure_future(
            arun_dataframe(df, TEXT_TO_IMAGE, client=async_client, concurrency=4, progress=False)
        )
        while not one_done_one_in_flight(ledger):
            assert not task.done(), task.result()
            await asyncio.sleep(0.02)
        task.cancel()  # nothing ran since the read: the batch stops in the state the ledger showed
    partial = await task
    done = (partial["lamina_status"] == "completed").sum()
    in_flight = partial["lamina_status"].isin(["queued", "running"]).sum()
    assert 0 < done < 24 and in_flight > 0
    assert (partial["lamina_status"] == "pending").sum() == 24 - done - in_flight
    assert partial.lamina.report["interrupted"] is True
    resumed = await arun_dataframe(df, TEXT_TO_IMAGE, client=async_client, concurrency=8, progress=False)
    assert (resumed["lamina_status"] == "completed").all()
    assert resumed.lamina.report["reattached"] == in_flight
    assert emulator.stats["runs_created"] == 24 and emulator.stats["duplicate_starts"] == 0


def test_keyboard_interrupt_returns_partial_frame_and_can_cancel_in_flight(client, emulator, prompts):
    # A shell that started pytest in the background leaves SIGINT ignored; Ctrl-C is the point here.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    emulator.configure(latency=0.8)
    emulator.reset_stats()
    release_spare()  # the idle worker loop kept between calls (drive.worker_loop) is no orphan
    threads_before = threading.active_count()
    ledger = Journal(DEFAULT_PATH)  # the batch's own ledger (journal=True)

    def press() -> None:
        """Ctrl-C once a row is done and another's run is on (0.8 s from done): not at a fixed time."""
        deadline = time.monotonic() + 60
        while not one_done_one_in_flight(ledger) and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press, daemon=True)
    presser.start()
    try:
        partial = run_dataframe(
            prompts(20), TEXT_TO_IMAGE, client=client, concurrency=4, progress=False, cancel_in_flight=True
        )
    finally:
        presser.join()
        signal.signal(signal.SIGINT, previous)
        ledger.close()
    statuses = partial["lamina_status"]
    assert statuses.isin(["completed", "cancelled", "pending"]).all()
    assert (statuses == "completed").sum() > 0  # a finished row stays finished
    assert (statuses == "cancelled").sum() > 0 and (statuses == "pending").sum() > 0
    server = {r["run_id"]: r["status"] for r in emulator.runs()}
    for rid, status in zip(partial["lamina_run_id"], statuses, strict=True):
        if status == "cancelled":
            assert server[rid] == "cancelled"
    release_spare()
    assert threading.active_count() == threads_before  # the worker thread is gone
