"""Rows never take someone else's run (issue 11, part 1) and one stalled start costs one row (part 3).

A teammate starts the same app from another process; our batch's start is reset before the server
handled it. Where nothing proves which run is the row's, the row ends `uncertain` naming the
candidate, the report counts it, and retry_failed() settles it.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from datetime import datetime
from pathlib import Path

import pandas as pd
from suite import CAPTION_WRITER
from teammates import crowd, private_emulator, teammate_start

from lamina_jupyter import Client, run_dataframe

START = "POST /v1/apps/*/runs"
THEIRS = {"topic_text": "teammate secret launch"}
LEDGER = Path(".lamina") / "runs.sqlite"


def topics(n: int) -> pd.DataFrame:
    tag = uuid.uuid4().hex[:6]
    return pd.DataFrame({"Topic": [f"{tag} topic {i}" for i in range(n)]})


def own_runs(emu, result) -> bool:
    """Every completed row holds the run the server made with that row's inputs."""
    by_run = {r["run_id"]: r["inputs"] for r in emu.runs()}
    done = result[result["lamina_status"] == "completed"]
    pairs = zip(done["lamina_run_id"], done["Topic"], strict=True)
    return all(by_run[rid] == {"Topic": t} for rid, t in pairs)


def test_a_row_whose_start_was_reset_never_completes_with_the_teammates_run():
    with private_emulator() as emu, Client(api_key=emu.api_key, base_url=emu.base_url) as c:
        theirs = teammate_start(emu, CAPTION_WRITER, THEIRS)
        time.sleep(0.2)
        emu.inject("reset", route=START)
        result = run_dataframe(topics(1), CAPTION_WRITER, client=c, progress=False)
        row = result.iloc[0]
        assert row["lamina_status"] == "uncertain" and row["lamina_run_id"] == theirs
        assert "get_run" in row["lamina_error"] and "teammate" not in str(row["Caption"])
        assert result.lamina.report["uncertain"] == 1 and emu.stats["runs_created"] == 1
        settled = result.lamina.retry_failed(progress=False)  # starts the row again: ours now exists
        assert settled.iloc[0]["lamina_status"] == "completed" and settled.iloc[0]["lamina_run_id"] != theirs
        assert own_runs(emu, settled) and row["Topic"] in settled.iloc[0]["Caption"]


def test_a_batch_that_knows_the_server_clock_resends_the_reset_row_and_every_row_is_its_own():
    with private_emulator() as emu, Client(api_key=emu.api_key, base_url=emu.base_url) as c:
        c.start(CAPTION_WRITER, {"Topic": "warm-up"})
        theirs = teammate_start(emu, CAPTION_WRITER, THEIRS)
        time.sleep(0.2)
        emu.inject("reset", route=START)
        result = run_dataframe(topics(4), CAPTION_WRITER, client=c, progress=False)
    assert (result["lamina_status"] == "completed").all() and theirs not in set(result["lamina_run_id"])
    assert own_runs(emu, result)


def test_in_a_crowd_rows_are_their_own_or_uncertain_never_a_strangers():
    """The crowded twin of quiet_app: a teammate starts the same app every 0.15 s throughout. A stranger
    created during the flight of a start that never arrived looks exactly like ours in the run list
    (a loaded machine's long flights made that common), so in a crowd, anyone else running the app
    within CROWD_HORIZON, a lone rival is doubt: every completed row holds its own run."""
    with private_emulator() as emu, Client(api_key=emu.api_key, base_url=emu.base_url) as c:
        c.start(CAPTION_WRITER, {"Topic": "warm-up"})
        with crowd(emu, CAPTION_WRITER, THEIRS) as strangers:
            for _ in range(3):
                emu.inject("accept_then_drop", route=START)
                emu.inject("reset", route=START)
            result = run_dataframe(topics(8), CAPTION_WRITER, client=c, progress=False)
        assert strangers and set(result["lamina_status"]) <= {"completed", "uncertain"}
        assert own_runs(emu, result)
        taken = result.loc[result["lamina_run_id"].isin(strangers)]
        assert (taken["lamina_status"] == "uncertain").all()


def test_one_stalled_start_costs_one_row_not_the_batch():
    with private_emulator() as emu, Client(api_key=emu.api_key, base_url=emu.base_url) as c:
        emu.inject("delay", route=START, seconds=4.0)  # the first start's answer stalls for 4 s
        began = time.time()
        result = run_dataframe(topics(6), CAPTION_WRITER, client=c, progress=False)
        created = sorted(datetime.fromisoformat(r["created_at"]).timestamp() - began for r in emu.runs())
    assert (result["lamina_status"] == "completed").all() and own_runs(emu, result)
    assert created[-1] >= 3.9  # the stalled one
    assert created[-2] < 2.0  # every other row started long before it answered


def test_resume_never_adopts_a_teammates_run_for_a_start_that_never_arrived(client, emulator):
    df = topics(2)
    first = run_dataframe(df, CAPTION_WRITER, client=client, progress=False)
    with sqlite3.connect(LEDGER) as conn:  # killed after SUBMITTING was written, before the POST left
        conn.execute(
            "INSERT INTO attempts SELECT row_key, attempt + 1, batch_id, origin, app_id, index_label, "
            "fingerprint, inputs, 'SUBMITTING', ?, NULL, NULL, NULL, NULL, NULL, updated FROM attempts "
            "WHERE run_id=?",
            (time.time(), first["lamina_run_id"].iloc[0]),
        )
    theirs = teammate_start(emulator, CAPTION_WRITER, THEIRS)  # meanwhile, in another notebook
    again = run_dataframe(df, CAPTION_WRITER, client=client, progress=False)
    assert list(again["lamina_status"]) == ["uncertain", "completed"]
    assert again["lamina_run_id"].iloc[0] == theirs and again.lamina.report["uncertain"] == 1
    assert "UNCERTAIN" in again.attrs["lamina"]["summary"]
    plan = run_dataframe(df, CAPTION_WRITER, client=client, dry_run=True)  # a plain rerun keeps it
    assert (plan.uncertain, plan.to_submit) == (1, 0) and "1 uncertain" in repr(plan)
    settled = again.lamina.retry_failed(progress=False)
    assert (settled["lamina_status"] == "completed").all() and theirs not in set(settled["lamina_run_id"])
    assert own_runs(emulator, settled)


def test_a_lost_answer_beside_a_stalled_sibling_start_is_adopted_not_doubted():
    """The batch's own overlapping starts: the first one's run exists but its answer stalls, the second
    one's answer is lost after the server made its run. The stalled sibling's run is listed with no id
    known yet; it is the sibling's, not a stranger's, so the second row takes its own run, and nothing
    is paid twice (the CI failure of the crowd rule's first version)."""
    with private_emulator() as emu, Client(api_key=emu.api_key, base_url=emu.base_url) as c:
        c.start(CAPTION_WRITER, {"Topic": "warm-up"})  # pins the server's clock
        emu.inject("delay", route=START, seconds=3.0, after=True)
        emu.inject("accept_then_drop", route=START)
        result = run_dataframe(topics(2), CAPTION_WRITER, client=c, progress=False)
        made = [r for r in emu.runs() if r["inputs"] != {"Topic": "warm-up"}]
    assert list(result["lamina_status"]) == ["completed", "completed"], list(result["lamina_error"])
    assert own_runs(emu, result) and len(made) == 2
