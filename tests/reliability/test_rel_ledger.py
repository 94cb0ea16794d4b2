"""Fault matrix, the ledger itself (reliability.md table B #16 and issue 6): two processes on one ledger
file at once, a truncated or corrupt ledger, and an app whose parameters changed since the ledger
recorded the batch. Also the emulator hooks these scenarios need (edit_app, a late answer)."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid

import httpx
import pandas as pd
import pytest
from batch_worker import TEXT_PARAM, rows, spawn, wait_for
from suite import TEXT_TO_IMAGE, route_count

from lamina_jupyter import ValidationError, run_dataframe
from lamina_jupyter.batch.ledger import Journal, JournalError

POST = "POST /v1/apps/{id}/runs"


def finish(proc, timeout: float = 30) -> tuple[int, dict]:
    """(exit code, the worker's JSON line); the process is always reaped, even on a timeout."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    lines = out.strip().splitlines()
    return proc.returncode, json.loads(lines[-1]) if lines else {"no output": proc.returncode}


def reap(*procs) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def record(scenario, emulator, result, expected_runs: int, **extra: int) -> tuple[int, int]:
    server = {r["run_id"]: r["status"] for r in emulator.runs()}
    lost = sum(
        1
        for rid, status in zip(result["lamina_run_id"], result["lamina_status"], strict=True)
        if status not in ("completed", "failed") or server.get(rid) != status
    )
    stats = emulator.stats
    paid_twice = stats["runs_created"] - expected_runs + stats["duplicate_starts"]
    scenario.add(
        rows_submitted=len(result),
        rows_completed=len(result) - lost,
        rows_lost=lost,
        paid_twice=paid_twice,
        **extra,
    )
    return lost, paid_twice


# -- 3. two processes, one ledger file ---------------------------------------------------------------
def test_second_process_on_the_same_batch_gets_in_use(client, emulator, scenario, tmp_path):
    n, tag, column = 12, uuid.uuid4().hex[:8], TEXT_PARAM[TEXT_TO_IMAGE]
    emulator.configure(hold=True, latency=0.1)
    emulator.reset_stats()
    first = spawn(emulator, tmp_path, TEXT_TO_IMAGE, column, tag, n, "shared.sqlite", n)
    scenario.add(faults_injected=1)  # a second process on the same batch
    try:
        wait_for(lambda: emulator.stats["runs_created"] == n, what="the first process's runs")
        second = spawn(emulator, tmp_path, TEXT_TO_IMAGE, column, tag, n, "shared.sqlite", n)
        code, said = finish(second)
        assert code == 3 and "in use" in said["in_use"] and "shared.sqlite" in said["in_use"]
        assert emulator.stats["runs_created"] == n  # the second process paid for nothing
        assert route_count(emulator, POST) == n
    finally:
        emulator.configure(hold=False)
        code, said = finish(first)
    assert code == 0 and said["statuses"] == ["completed"] * n
    again = run_dataframe(
        rows(column, tag, n), TEXT_TO_IMAGE, client=client, journal=tmp_path / "shared.sqlite", progress=False
    )
    assert again.lamina.report["reused"] == n
    lost, paid_twice = record(scenario, emulator, again, n)
    assert (lost, paid_twice) == (0, 0)


def test_two_processes_with_different_batches_share_one_ledger(client, emulator, scenario, tmp_path):
    n, column = 12, TEXT_PARAM[TEXT_TO_IMAGE]
    tags = [
        uuid.uuid4().hex[:8] for _ in range(3)
    ]  # opened at the same moment: a new file's WAL switch races
    emulator.configure(latency=0.3, jitter=0.2)
    emulator.reset_stats()
    procs = [spawn(emulator, tmp_path, TEXT_TO_IMAGE, column, t, n, "shared.sqlite", 4) for t in tags]
    scenario.add(faults_injected=1)  # three writers on one ledger file
    try:
        results = [finish(p, 60) for p in procs]
    finally:
        reap(*procs)
    assert [code for code, _ in results] == [0] * len(tags), results
    assert all(said["statuses"] == ["completed"] * n for _, said in results)
    assert emulator.stats["runs_created"] == 3 * n and emulator.stats["duplicate_starts"] == 0
    with Journal(tmp_path / "shared.sqlite") as j:
        assert j.states() == {"TERMINAL": 3 * n}
    for tag in tags:
        again = run_dataframe(
            rows(column, tag, n),
            TEXT_TO_IMAGE,
            client=client,
            journal=tmp_path / "shared.sqlite",
            progress=False,
        )
        assert again.lamina.report["reused"] == n
        lost, paid_twice = record(scenario, emulator, again, 3 * n)
        assert (lost, paid_twice) == (0, 0)


# -- 4. a truncated or corrupt ledger ----------------------------------------------------------------
def _damage(data: bytes, how: str) -> bytes:
    return {
        "zero_bytes": b"",
        "first_page_only": data[:4096],
        "half": data[: len(data) // 2],
        "header_garbage": b"\xff" * 100 + data[100:],
        "page_garbage": data[:8192] + bytes(range(256)) * 16 + data[12288:],
    }[how]


@pytest.mark.parametrize("how", ["zero_bytes", "first_page_only", "half", "header_garbage", "page_garbage"])
def test_damaged_ledger_is_a_clear_error_never_a_fresh_start(how, client, emulator, scenario, tmp_path):
    ledger = tmp_path / "runs.sqlite"
    df = pd.DataFrame({"prompt": [f"{uuid.uuid4().hex[:8]} ledger {i}" for i in range(40)]})
    run_dataframe(df, TEXT_TO_IMAGE, client=client, journal=ledger, progress=False)
    with Journal(ledger) as j:  # fold the write-ahead log into the file so the damage cuts real data
        j._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert ledger.stat().st_size > 12288
    ledger.write_bytes(_damage(ledger.read_bytes(), how))
    scenario.add(faults_injected=1)
    emulator.reset_stats()
    with pytest.raises(JournalError) as info:
        run_dataframe(df, TEXT_TO_IMAGE, client=client, journal=ledger, progress=False)
    created = emulator.stats["runs_created"]
    scenario.add(paid_twice=created)
    message = str(info.value)
    assert str(ledger) in message and "was not reset" in message and "journal=" in message
    assert created == 0 and route_count(emulator, POST) == 0


def test_a_plain_empty_file_is_a_new_ledger(client, emulator, scenario, tmp_path):
    """Only a USED ledger (lock folder or log beside it) that is now empty counts as truncated."""
    ledger = tmp_path / "new.sqlite"
    ledger.touch()
    scenario.add(ordinary_events=1, rows_submitted=1)  # an empty file the user made: not damage
    result = run_dataframe(
        pd.DataFrame({"prompt": [uuid.uuid4().hex]}),
        TEXT_TO_IMAGE,
        client=client,
        journal=ledger,
        progress=False,
    )
    scenario.add(rows_completed=int((result["lamina_status"] == "completed").sum()))
    assert (result["lamina_status"] == "completed").all()


# -- 5. the app's parameters changed since the ledger recorded the batch -------------------------------
@pytest.fixture
def editable(emulator):
    yield emulator
    emulator.restore_apps()


def _interrupted_batch(client, emulator, df, ledger, **kw):
    """Run df until the ledger holds every row SUBMITTED (the state these scenarios start from), then
    stop the cell. The server's runs_created reaches n while the last answer may still be on its way;
    recording that one (the start grace) is test_rel_batch's all_in_flight interrupt, not this."""
    import asyncio

    from lamina_jupyter import AsyncClient, arun_dataframe

    async def go():
        async with AsyncClient(api_key=emulator.api_key, base_url=emulator.base_url) as ac:
            task = asyncio.ensure_future(
                arun_dataframe(
                    df, TEXT_TO_IMAGE, client=ac, journal=ledger, concurrency=len(df), progress=False, **kw
                )
            )
            with Journal(ledger) as j:
                while j.states().get("SUBMITTED", 0) < len(df):
                    assert not task.done(), task.result()
                    await asyncio.sleep(0.02)
            task.cancel()
            return await task

    return asyncio.run(go())


def test_removed_parameter_is_a_clear_error_and_the_ledger_keeps_every_run(
    client, editable, scenario, tmp_path
):
    emulator, ledger, n = editable, tmp_path / "l.sqlite", 8
    df = pd.DataFrame({"text": [f"{uuid.uuid4().hex[:8]} p {i}" for i in range(n)], "look": ["Neon"] * n})
    scenario.add(faults_injected=1)  # a kernel stopped mid-batch, then the app loses a parameter
    emulator.configure(hold=True)
    emulator.reset_stats()
    partial = _interrupted_batch(client, emulator, df, ledger, columns={"text": "Prompt", "look": "Style"})
    assert partial.lamina.report["in_flight"] == n
    emulator.edit_app(TEXT_TO_IMAGE, drop=["style"])  # the author removed "Style"
    with pytest.raises(ValueError, match="'Style' matches no parameter of 'Text to Image'"):
        run_dataframe(
            df,
            TEXT_TO_IMAGE,
            client=client,
            journal=ledger,
            columns={"text": "Prompt", "look": "Style"},
            progress=False,
        )
    assert route_count(emulator, POST) == n  # nothing was resubmitted
    with Journal(ledger) as j:
        assert j.states() == {"SUBMITTED": n}  # nothing was forgotten either
    emulator.restore_apps()
    emulator.configure(hold=False)
    resumed = run_dataframe(
        df,
        TEXT_TO_IMAGE,
        client=client,
        journal=ledger,
        columns={"text": "Prompt", "look": "Style"},
        progress=False,
    )
    assert resumed.lamina.report["reattached"] == n and resumed.lamina.report["submitted"] == 0
    lost, paid_twice = record(scenario, emulator, resumed, n)
    assert (lost, paid_twice) == (0, 0)


def test_removed_option_flags_only_its_rows_and_fixed_rows_reuse_the_rest(
    client, editable, scenario, tmp_path
):
    emulator, ledger, n = editable, tmp_path / "l.sqlite", 9
    styles = ["Neon", "Watercolor", "Photographic"] * 3
    df = pd.DataFrame({"prompt": [f"{uuid.uuid4().hex[:8]} o {i}" for i in range(n)], "style": styles})
    scenario.add(faults_injected=1)  # a kernel stopped mid-batch, then an option disappears
    emulator.configure(hold=True)
    emulator.reset_stats()
    _interrupted_batch(client, emulator, df, ledger)
    emulator.edit_app(TEXT_TO_IMAGE, options={"style": ["Watercolor", "Photographic", "Pixel Art"]})
    emulator.configure(hold=False)
    with pytest.raises(ValidationError, match="nothing was sent") as info:
        run_dataframe(df, TEXT_TO_IMAGE, client=client, journal=ledger, progress=False)
    assert {p["row"] for p in info.value.details} == {0, 3, 6}
    assert "invalid option 'Neon'" in str(info.value)
    assert route_count(emulator, POST) == n
    fixed = df.assign(style=["Pixel Art", "Watercolor", "Photographic"] * 3)  # the user fixes those cells
    result = run_dataframe(fixed, TEXT_TO_IMAGE, client=client, journal=ledger, progress=False)
    report = result.lamina.report
    assert (report["reattached"] + report["reused"], report["submitted"]) == (6, 3)  # only the changed rows
    assert (result["lamina_status"] == "completed").all()
    lost, paid_twice = record(scenario, emulator, result, n + 3)
    assert (lost, paid_twice) == (0, 0)


# -- the emulator hooks --------------------------------------------------------------------------------
def test_emulator_edit_app_and_late_answer(editable, tmp_path):
    emulator = editable
    headers = {"Authorization": f"Bearer {emulator.api_key}"}
    with httpx.Client(base_url=emulator.base_url, headers=headers, timeout=10) as http:
        emulator.edit_app(TEXT_TO_IMAGE, drop=["aspect-ratio"], options={"style": ["Neon", "Noir"]})
        params = {p["id"]: p for p in http.get(f"/v1/apps/{TEXT_TO_IMAGE}").json()["data"]["parameters"]}
        assert set(params) == {"prompt", "style"} and params["style"]["options"] == ["Neon", "Noir"]
        assert params["style"]["default"] == "Neon"  # the old default was removed
        bad = http.post(
            f"/v1/apps/{TEXT_TO_IMAGE}/runs", json={"inputs": {"Prompt": "x", "Style": "Watercolor"}}
        )
        assert bad.status_code == 400 and "Watercolor" in bad.text
        with pytest.raises(ValueError, match="no parameter"):
            emulator.edit_app(TEXT_TO_IMAGE, drop=["nope"])
        emulator.restore_apps()
        assert len(http.get(f"/v1/apps/{TEXT_TO_IMAGE}").json()["data"]["parameters"]) == 3
        before = emulator.stats["runs_created"]
        emulator.inject("delay", route="POST /v1/apps/*/runs", seconds=0.8, after=True)
        start = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            http.post(
                f"/v1/apps/{TEXT_TO_IMAGE}/runs", json={"inputs": {"Prompt": uuid.uuid4().hex}}, timeout=0.3
            )
        assert emulator.stats["runs_created"] == before + 1  # created, only the answer was late
        assert time.monotonic() - start < 0.8


# -- 4b. a damaged row (issue 12 item 7) ---------------------------------------------------------------
@pytest.mark.parametrize("outputs", ["not json {", '"a string"', "[" * 100_000 + "]" * 100_000])
def test_damaged_ledger_row_is_a_clear_error_never_a_fresh_start(outputs, client, emulator, scenario,
                                                                 tmp_path):
    ledger = tmp_path / "runs.sqlite"
    df = pd.DataFrame({"prompt": [f"{uuid.uuid4().hex[:8]} row {i}" for i in range(5)]})
    run_dataframe(df, TEXT_TO_IMAGE, client=client, journal=ledger, progress=False)
    with sqlite3.connect(ledger) as conn:
        conn.execute("UPDATE attempts SET outputs=?", (outputs,))
    emulator.reset_stats()
    with pytest.raises(JournalError) as info:
        run_dataframe(df, TEXT_TO_IMAGE, client=client, journal=ledger, progress=False)
    assert str(ledger) in str(info.value) and "row_key" in str(info.value) and "journal=" in str(info.value)
    created = emulator.stats["runs_created"]
    scenario.add(faults_injected=1, faults_survived=int(created == 0), paid_twice=created)
    assert created == 0
