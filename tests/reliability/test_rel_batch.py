"""Fault matrix, batch durability (reliability.md table B): a kernel killed or interrupted mid-batch,
per-row failures, duplicate rows, and wire faults, 429s and an outage in the middle of a batch.

Every scenario counts rows and runs from the emulator's own stats: paid_twice = runs the server created
beyond one per row, rows_lost = rows that did not end with their run's terminal status.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid

import pandas as pd
import pytest
from batch_worker import TEXT_PARAM, quiet_app, spawn, wait_for
from suite import TEXT_TO_IMAGE, route_count

from lamina_jupyter import run_dataframe
from lamina_jupyter.batch.drive import release_spare
from lamina_jupyter.batch.engine import MAX_STARTS
from lamina_jupyter.batch.ledger import Journal
from lamina_jupyter.core.errors import ValidationError

POST = "POST /v1/apps/{id}/runs"
STREAM = "GET /v1/runs/{id}/stream"  # how a batch follows each run it recorded
POST_GLOB, WAIT_GLOB = "POST /v1/apps/*/runs", "GET /v1/runs/*/*"  # /wait or /stream
TERMINAL = ("completed", "failed")


def frame(n: int, column: str = "prompt", fail_every: int = 0, **extra) -> pd.DataFrame:
    tag = uuid.uuid4().hex[:8]
    cells = [f"{tag} row {i}" + (" #fail" if fail_every and i % fail_every == 0 else "") for i in range(n)]
    return pd.DataFrame({column: cells, **extra}, index=[f"r{(i * 7919) % (n * 3)}" for i in range(n)])


def lost_rows(emulator, result) -> int:
    """Rows whose status is not terminal, or does not match what the server says about their run."""
    server = {r["run_id"]: r["status"] for r in emulator.runs()}
    return sum(
        1
        for rid, status in zip(result["lamina_run_id"], result["lamina_status"], strict=True)
        if status not in TERMINAL or server.get(rid) != status
    )


def record(
    scenario, emulator, result, runs_expected: int, faults: int = 0, same_inputs: int = 0
) -> tuple[int, int]:
    """Count and return (rows lost, runs paid twice); `same_inputs` = runs deliberately repeated.
    Survival is judged by the test's outcome (conftest), so declare faults when injecting them."""
    stats = emulator.stats
    lost = lost_rows(emulator, result)
    paid_twice = stats["runs_created"] - runs_expected + stats["duplicate_starts"] - same_inputs
    scenario.add(
        rows_submitted=len(result),
        rows_completed=int(result["lamina_status"].isin(TERMINAL).sum()),
        rows_lost=lost,
        paid_twice=paid_twice,
        faults_injected=faults,
    )
    return lost, paid_twice


def fired(emulator) -> int:
    return emulator.state.faults.fired


def every_start_made_its_run(emulator) -> bool:
    """No start that reached the server is still being handled (each POST made one run here)."""
    stats = emulator.stats
    return stats["runs_created"] == stats["requests_by_route"].get(POST, 0)


def inject_after(emulator, runs: int, kind: str, **fault) -> threading.Thread:
    """Inject a fault once the batch has created `runs` runs (mid-batch, not before it)."""

    def go() -> None:
        wait_for(lambda: emulator.stats["runs_created"] >= runs, 30, f"{runs} runs")
        emulator.inject(kind, **fault)

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread


# -- 1. kill mid-batch, then rerun (table B #12) -------------------------------------------------------
@pytest.mark.parametrize(
    "point",
    ["during_submission", "post_sent_no_run_id", "post_sent_after_another_notebook", "during_waiting"],
)
def test_kill_mid_batch_then_rerun(point, client, emulator, scenario, tmp_path):
    app = quiet_app(emulator)
    column = TEXT_PARAM[app]
    n, tag = 30, uuid.uuid4().hex[:8]
    emulator.configure(hold=True, latency=0.1)  # held runs stay running until released
    emulator.reset_stats()
    others = 2 if point == "post_sent_after_another_notebook" else 0
    for i in range(others):  # another notebook started runs of the same app moments before
        client.start(app, {TEXT_PARAM[app]: f"{tag} other notebook {i}"})
    proc = spawn(emulator, tmp_path, app, column, tag, n, "ledger.sqlite", n)
    try:
        if point == "during_waiting":  # a row's stream opens only after its run id is in the ledger
            wait_for(lambda: route_count(emulator, STREAM) >= n, what="every run recorded and followed")
        else:
            wait_for(lambda: emulator.stats["runs_created"] >= 10 + others, what="10 runs started")
        if point.startswith("post_sent"):  # the next run is created but its 202 comes late
            before = fired(emulator)
            emulator.inject("delay", route=POST_GLOB, seconds=2.0, after=True)
            wait_for(lambda: fired(emulator) > before, what="the slow POST")
            wait_for(lambda: every_start_made_its_run(emulator), what="the slow POST's run")
        scenario.add(faults_injected=1)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(10)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    killed_at = emulator.stats["runs_created"] - others
    assert 10 <= killed_at <= n
    emulator.configure(hold=False)
    df = pd.DataFrame({column: [f"{tag} row {i}" for i in range(n)]})
    result = run_dataframe(
        df, app, client=client, journal=tmp_path / "ledger.sqlite", concurrency=16, progress=False
    )
    report = result.lamina.report
    assert list(result[column]) == list(df[column])  # order kept
    assert emulator.stats["duplicate_starts"] == 0
    # A row whose start was on the wire at the kill may have a run nothing ties to it (run lists carry
    # no inputs): it says `uncertain` and names the candidate(s) instead of guessing.
    uncertain = result["lamina_status"] == "uncertain"
    assert (result["lamina_status"][~uncertain] == "completed").all() and uncertain.sum() <= MAX_STARTS
    by_run = {r["run_id"]: r["inputs"] for r in emulator.runs()}
    runless = sum(1 for cell in df[column] if {column: cell} not in by_run.values())
    assert runless <= uncertain.sum() and report["reconciled"] == 0 and report["unknown"] == 0
    assert report["reattached"] + report["uncertain"] - runless == killed_at
    assert report["submitted"] == n - killed_at - runless
    for cell, run_id in zip(result[column][~uncertain], result["lamina_run_id"][~uncertain], strict=True):
        assert by_run[run_id] == {column: cell}  # every completed row holds its own run
    if point.startswith("post_sent"):  # the run whose answer was lost is named, not resent
        late = next(rid for rid, inputs in by_run.items()
                    if inputs in [{column: c} for c in result[column][uncertain]])
        assert report["uncertain"] >= 1 and result["lamina_error"][uncertain].str.contains(late).any()
    # Uncertain rows are said, not lost; one whose start never reached the server has no run at all.
    lost, paid_twice = record(scenario, emulator, result[~uncertain], n + others - runless)
    assert (lost, paid_twice) == (0, 0)
    settled = result.lamina.retry_failed(adopt=True, progress=False)  # follows the named candidates
    assert (settled["lamina_status"] == "completed").all()
    for cell, run_id in zip(result[column][uncertain], result["lamina_run_id"][uncertain], strict=True):
        if isinstance(run_id, str):
            assert settled.loc[result[column] == cell, "lamina_run_id"].item() == run_id


# -- 2. interrupt mid-batch (table B #13) ------------------------------------------------------------
@pytest.mark.parametrize("when", ["mid_batch", "all_in_flight"])
def test_interrupt_mid_batch_keeps_rows_and_rerun_resumes(when, client, emulator, scenario, tmp_path):
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # a background shell ignores it
    held = when == "all_in_flight"
    emulator.configure(latency=0.6, hold=held)
    emulator.reset_stats()
    release_spare()  # the idle worker loop kept between calls (drive.worker_loop) is no orphan
    threads_before = threading.active_count()
    df, ledger, n = frame(24), tmp_path / "ledger.sqlite", 24

    def press() -> None:
        if held:
            wait_for(lambda: emulator.stats["runs_created"] == n, what="every run started")
        else:  # a row's slot starts the next row only once the row is finished: done > 0 from here on
            wait_for(lambda: emulator.stats["runs_created"] > 4, what="a fifth run (a row finished)")
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Thread(target=press, daemon=True)
    scenario.add(ordinary_events=1)  # a user's Ctrl-C
    timer.start()
    try:
        partial = run_dataframe(
            df, TEXT_TO_IMAGE, client=client, journal=ledger, concurrency=n if held else 4, progress=False
        )
    finally:
        timer.join()
        signal.signal(signal.SIGINT, previous)
    release_spare()
    assert threading.active_count() == threads_before  # no orphan worker thread
    started = emulator.stats["runs_created"]
    statuses = partial["lamina_status"]
    done, in_flight = (statuses == "completed").sum(), statuses.isin(["queued", "running"]).sum()
    assert done + in_flight == started and in_flight > 0
    assert (done == 0) if held else (done > 0 and started < n)
    assert partial.loc[statuses == "completed", "Image"].notna().all()
    assert partial.loc[statuses.isin(["queued", "running"]), "lamina_error"].str.contains("re-attach").all()
    assert partial.lamina.report["interrupted"] and partial.lamina.report["in_flight"] == in_flight
    with Journal(ledger) as j:  # every finished row and every started run is in the ledger
        states = {k: v for k, v in j.states().items() if v}
    assert states == {
        k: v for k, v in {"TERMINAL": done, "SUBMITTED": in_flight, "PENDING": n - started}.items() if v
    }
    emulator.configure(hold=False)
    resumed = run_dataframe(df, TEXT_TO_IMAGE, client=client, journal=ledger, concurrency=8, progress=False)
    report = resumed.lamina.report
    lost, paid_twice = record(scenario, emulator, resumed, n)
    assert (lost, paid_twice) == (0, 0) and (resumed["lamina_status"] == "completed").all()
    assert (report["reused"], report["reattached"], report["submitted"]) == (done, in_flight, n - started)
    assert (
        resumed.loc[statuses == "completed", "lamina_run_id"]
        == partial.loc[statuses == "completed", "lamina_run_id"]
    ).all()
    release_spare()
    assert threading.active_count() == threads_before


# -- 6. per-row failures (table B #15) ---------------------------------------------------------------
def test_per_row_failures_stay_per_row_and_retry_failed_reruns_only_them(
    client, emulator, scenario, tmp_path
):
    emulator.configure(latency=0.1)
    emulator.reset_stats()
    df = frame(40, fail_every=8)  # 5 runs end failed
    rejected = 2  # and 2 starts are refused by the server with VALIDATION_ERROR (no run, no charge)
    scenario.add(faults_injected=rejected, ordinary_events=5)
    injector = inject_after(
        emulator,
        2,
        "status",
        route=POST_GLOB,
        times=rejected,
        status=400,
        code="VALIDATION_ERROR",
        message="Invalid inputs",
    )
    result = run_dataframe(df, TEXT_TO_IMAGE, client=client, journal=tmp_path / "l.sqlite", progress=False)
    injector.join(5)
    statuses = result["lamina_status"]
    failing = df["prompt"].str.contains("#fail")
    # the refusals land on whichever starts follow the second run: a failing row's too, when it is next
    refused = statuses == "error"
    assert refused.sum() == rejected and failing.sum() == 5
    assert (statuses[failing & ~refused] == "failed").all()
    assert (statuses[~failing & ~refused] == "completed").all()  # no sibling was cancelled
    bad = statuses != "completed"
    assert result.loc[bad, "lamina_error"].str.len().gt(0).all()
    assert result.loc[statuses == "error", "lamina_error"].str.contains("Invalid inputs").all()
    assert result.loc[statuses == "failed", "lamina_run_id"].notna().all()
    server = {r["run_id"]: r["status"] for r in emulator.runs()}
    assert not any(server[rid] == "cancelled" for rid in result["lamina_run_id"].dropna())
    assert emulator.stats["runs_created"] == 40 - rejected
    emulator.reset_stats()
    retried = result.lamina.retry_failed(client=client, progress=False)
    assert emulator.stats["runs_created"] == bad.sum()  # exactly the failed rows, nothing else
    assert (retried.loc[~bad, "lamina_run_id"] == result.loc[~bad, "lamina_run_id"]).all()
    assert (retried.loc[failing, "lamina_status"] == "failed").all()
    assert (retried.loc[~failing, "lamina_status"] == "completed").all()
    repeated = int((failing & ~refused).sum())  # a failed run's inputs, run again on purpose
    lost, paid_twice = record(scenario, emulator, retried, int(bad.sum()), same_inputs=repeated)
    assert (lost, paid_twice) == (0, 0)


def test_invalid_option_rows_are_flagged_before_any_spend(client, emulator, scenario, tmp_path):
    df = frame(10, style=["Neon", "Mars", "Watercolor", "Photographic", "Pastel"] * 2)
    emulator.reset_stats()
    scenario.add(ordinary_events=4)  # four rows refused before anything is sent
    report = run_dataframe(df, TEXT_TO_IMAGE, client=client, dry_run=True, progress=False)
    assert {p["row"] for p in report.problems} == {1, 4, 6, 9}
    with pytest.raises(ValidationError, match="nothing was sent") as info:
        run_dataframe(df, TEXT_TO_IMAGE, client=client, journal=tmp_path / "l.sqlite", progress=False)
    scenario.add(paid_twice=route_count(emulator, POST))
    assert "invalid option 'Mars'" in str(info.value) and "row 4" in str(info.value)
    assert route_count(emulator, POST) == 0 and emulator.stats["runs_created"] == 0


# -- 7. duplicate rows (table B #16) -----------------------------------------------------------------
@pytest.mark.parametrize("labels", ["same_index", "different_index"])
def test_duplicate_rows_are_two_runs_and_rerun_reuses_both(labels, client, emulator, scenario, tmp_path):
    one = frame(1)
    df = (
        pd.concat([one, one]) if labels == "same_index" else pd.concat([one, one.rename(index=lambda _: "x")])
    )
    ledger = tmp_path / "l.sqlite"
    emulator.reset_stats()
    result = run_dataframe(df, TEXT_TO_IMAGE, client=client, journal=ledger, progress=False)
    assert result["lamina_run_id"].nunique() == 2 and emulator.stats["runs_created"] == 2
    again = run_dataframe(df, TEXT_TO_IMAGE, client=client, journal=ledger, progress=False)
    assert again.lamina.report["reused"] == 2 and list(again["lamina_run_id"]) == list(
        result["lamina_run_id"]
    )
    stats = emulator.stats
    lost = lost_rows(emulator, again)
    scenario.add(rows_submitted=2, rows_completed=2, rows_lost=lost, paid_twice=stats["runs_created"] - 2)
    assert lost == 0 and stats["runs_created"] == 2


# -- 8. 5xx bursts and connection resets mid-batch ----------------------------------------------------
WIRE_FAULTS = {
    "post_503_burst": ("status", POST_GLOB, 3, {"status": 503}),
    "post_500": ("status", POST_GLOB, 2, {"status": 500, "code": "INTERNAL_ERROR"}),
    "post_reset": ("reset", POST_GLOB, 2, {}),
    "post_accept_then_drop": ("accept_then_drop", POST_GLOB, 2, {}),
    "wait_reset": ("reset", WAIT_GLOB, 4, {}),
    "wait_fin": ("reset", WAIT_GLOB, 3, {"fin": True}),
    "wait_502_html": ("html", WAIT_GLOB, 3, {"status": 502}),
    "wait_503_burst": ("status", WAIT_GLOB, 4, {"status": 503}),
}


@pytest.mark.parametrize("name", list(WIRE_FAULTS))
def test_wire_faults_mid_batch_lose_nothing_and_pay_nothing_twice(name, client, emulator, scenario, tmp_path):
    kind, route, times, params = WIRE_FAULTS[name]
    ambiguous = route == POST_GLOB and params.get("status") != 503  # the start may have created a run
    app = quiet_app(emulator) if ambiguous else TEXT_TO_IMAGE  # ... so the run list will be consulted
    emulator.configure(latency=0.3, jitter=0.2)
    emulator.reset_stats()
    before = fired(emulator)
    df = frame(24, column=TEXT_PARAM[app])
    injector = inject_after(emulator, 6, kind, route=route, times=times, **params)
    scenario.add(faults_injected=times)
    result = run_dataframe(
        df, app, client=client, journal=tmp_path / "l.sqlite", concurrency=6, progress=False
    )
    injector.join(5)
    lost, paid_twice = record(scenario, emulator, result, 24)
    assert fired(emulator) - before == times  # every injected fault hit the batch
    assert (lost, paid_twice) == (0, 0)
    assert (result["lamina_status"] == "completed").all(), result["lamina_error"].dropna().tolist()
    assert emulator.stats["runs_created"] == 24 and emulator.stats["duplicate_starts"] == 0


def test_ambiguous_start_whose_check_fails_is_never_called_unpaid(client, emulator, scenario, tmp_path):
    """The run is created but its 202 is lost, and the run list that would prove it fails too: the row
    must not be reported as "nothing was paid" (an error retry_failed would resubmit)."""
    app = quiet_app(emulator)
    emulator.configure(latency=0.2)
    emulator.reset_stats()
    df = frame(6, column=TEXT_PARAM[app])
    emulator.inject("accept_then_drop", route=POST_GLOB, times=1)
    emulator.inject("reset", route="GET /v1/runs", times=6)
    scenario.add(faults_injected=7)
    result = run_dataframe(df, app, client=client, journal=tmp_path / "l.sqlite", progress=False)
    statuses = result["lamina_status"]
    assert (statuses != "error").all(), result["lamina_error"].dropna().tolist()
    emulator.reset_stats()
    retried = result.lamina.retry_failed(client=client, progress=False)
    paid_twice = emulator.stats["runs_created"]
    lost = lost_rows(emulator, retried)
    scenario.add(
        rows_submitted=6,
        rows_completed=int(retried["lamina_status"].isin(TERMINAL).sum()),
        rows_lost=lost,
        paid_twice=paid_twice,
    )
    assert paid_twice == 0 and lost == 0


# -- 9. 429s mid-batch --------------------------------------------------------------------------------
def test_server_rate_limit_mid_batch_fails_no_row(client, emulator, scenario, tmp_path):
    # 60 requests per window, time_factor 0.05 → a 3 s window; 50 rows need 100+ requests
    emulator.configure(rate_limit=60, time_factor=0.05, latency=0.05)
    emulator.reset_stats()
    result = run_dataframe(
        frame(50), TEXT_TO_IMAGE, client=client, journal=tmp_path / "l.sqlite", concurrency=16, progress=False
    )
    limited = emulator.stats["rate_limited"]
    lost, paid_twice = record(scenario, emulator, result, 50, faults=limited)
    assert (lost, paid_twice) == (0, 0) and (result["lamina_status"] == "completed").all()
    assert limited <= 5  # the governor reads RateLimit-* and retryAfter instead of hammering


def test_injected_429_pauses_every_request_for_retry_after(client, emulator, scenario, tmp_path):
    emulator.configure(latency=0.3)
    emulator.reset_stats()
    before = fired(emulator)
    injector = inject_after(emulator, 5, "status", route=POST_GLOB, times=1, status=429, retry_after=2)
    scenario.add(faults_injected=1)
    quiet: list[tuple[int, float]] = []  # (requests, seconds) counted strictly inside the pause

    def watch() -> None:
        """The client stops for 2 s from receiving the 429, so count from 0.5 s after the 429 is seen
        (requests already on the wire land) to 1.9 s after the last look that had not seen it: inside
        the pause however late this thread wakes."""
        unseen, deadline = None, time.monotonic() + 30
        while True:
            looked = time.monotonic()
            if fired(emulator) > before:
                break
            unseen = looked
            assert looked < deadline, "the 429 never came"
            time.sleep(0.01)
        assert unseen is not None, "the 429 came before the watch began"
        time.sleep(0.5)
        began, lasted = time.monotonic(), 0.0
        first = last = emulator.stats["requests"]
        while True:
            time.sleep(0.05)
            count = emulator.stats["requests"]
            if time.monotonic() > unseen + 1.9:
                break
            last, lasted = count, time.monotonic() - began
        quiet.append((last - first, lasted))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    result = run_dataframe(
        frame(20), TEXT_TO_IMAGE, client=client, journal=tmp_path / "l.sqlite", concurrency=4, progress=False
    )
    injector.join(5)
    watcher.join(5)
    lost, paid_twice = record(scenario, emulator, result, 20)
    assert (lost, paid_twice) == (0, 0) and (result["lamina_status"] == "completed").all()
    assert quiet and quiet[0][0] == 0 and quiet[0][1] >= 0.5, quiet  # nobody sent during the retryAfter


# -- 10. an outage mid-batch --------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["reset", "status_503"])
def test_outage_mid_batch_pauses_and_resumes(kind, client, emulator, scenario, tmp_path):
    app = quiet_app(emulator)  # a start cut off by the outage is settled through this app's run list
    emulator.configure(latency=0.3)
    emulator.reset_stats()
    before = fired(emulator)
    params = {"status": 503} if kind == "status_503" else {}

    def outage() -> None:
        wait_for(lambda: emulator.stats["runs_created"] >= 6, 30, "6 runs")
        emulator.inject(kind.split("_")[0], route="*", times=None, **params)
        time.sleep(2.5)  # every request in these 2.5 s fails
        emulator.clear_faults()

    thread = threading.Thread(target=outage, daemon=True)
    thread.start()
    result = run_dataframe(
        frame(24, column=TEXT_PARAM[app]),
        app,
        client=client,
        journal=tmp_path / "l.sqlite",
        concurrency=6,
        progress=False,
    )
    thread.join(10)
    faults = fired(emulator) - before
    lost, paid_twice = record(scenario, emulator, result, 24, faults=max(faults, 1))  # an outage at least
    assert 0 < faults <= 40  # it paused and backed off (measured 4-10) instead of hammering
    assert (result["lamina_status"] == "completed").all(), result["lamina_error"].dropna().tolist()
    assert (lost, paid_twice) == (0, 0)
