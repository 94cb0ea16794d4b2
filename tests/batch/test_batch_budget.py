"""Credits in a batch: max_credits caps the estimated spend, the dry run weighs the batch against
the balance, progress shows the spend, and a server out of credits is an ordinary per-row error."""

from __future__ import annotations

import pytest
from metered_credits import metered
from suite import TEXT_TO_IMAGE, route_count

from lamina_jupyter import Client, LaminaError, run_dataframe

POST = "POST /v1/apps/{id}/runs"  # Text to Image costs 4 credits a run in the emulator


def test_max_credits_never_starts_a_row_past_the_cap(client, emulator, prompts):
    emulator.reset_stats()
    df = prompts(5)
    result = run_dataframe(df, TEXT_TO_IMAGE, client=client, concurrency=5, progress=False, max_credits=10)
    statuses = list(result["lamina_status"])
    assert statuses.count("completed") == 2 and statuses.count("skipped") == 3
    assert route_count(emulator, POST) == 2  # the skipped rows were never sent
    skipped = result[result["lamina_status"] == "skipped"]
    assert skipped["lamina_run_id"].isna().all()
    assert skipped["lamina_error"].str.contains("max_credits=10").all()
    assert skipped["lamina_error"].str.contains("larger max_credits").all()


def test_a_rerun_with_a_larger_cap_starts_only_the_skipped_rows(client, emulator, prompts):
    df = prompts(4)
    first = run_dataframe(df, TEXT_TO_IMAGE, client=client, progress=False, max_credits=4)
    assert list(first["lamina_status"]).count("completed") == 1
    emulator.reset_stats()
    second = run_dataframe(df, TEXT_TO_IMAGE, client=client, progress=False, max_credits=12)
    assert (second["lamina_status"] == "completed").all()
    assert route_count(emulator, POST) == 3 and second.lamina.report["reused"] == 1


def test_progress_shows_estimated_credits_spent_and_left(client, emulator, prompts, capsys):
    run_dataframe(prompts(3), TEXT_TO_IMAGE, client=client, progress=True, max_credits=9)
    err = capsys.readouterr().err
    assert "credits ~8 spent (estimated), 1 of max_credits=9 left, 1 row(s) skipped" in err
    assert "3/3 done | completed 2 | failed 0 | skipped 1 |" in err  # skipped is not a failure


@pytest.mark.parametrize("status", [402, 403])
def test_out_of_credits_is_a_per_row_error_never_a_crash_or_a_retry(client, emulator, prompts, status):
    """The balance runs dry mid-batch while another client spends from it too (a busy workspace)."""
    df = prompts(6)
    other = Client(api_key=emulator.api_key, base_url=emulator.base_url)
    with metered(emulator, 12, status=status), other:
        other.start(TEXT_TO_IMAGE, {"Prompt": "someone else's run"})  # 4 of the 12 credits
        emulator.reset_stats()
        result = run_dataframe(df, TEXT_TO_IMAGE, client=client, concurrency=3, progress=False)
    statuses = list(result["lamina_status"])
    assert statuses.count("completed") == 2 and statuses.count("error") == 4, statuses
    errors = result[result["lamina_status"] == "error"]["lamina_error"]
    assert errors.str.contains("Insufficient credits").all() and errors.str.contains(str(status)).all()
    assert route_count(emulator, POST) == 6  # one POST per row: refused starts are not retried


def test_a_start_the_server_refuses_gives_its_credits_back_to_the_cap(client, emulator, prompts):
    """max_credits=8 but only 4 credits in the workspace: the refused starts cost nothing, so the
    cap never skips a row (each refused row is an error instead)."""
    with metered(emulator, 4):
        result = run_dataframe(prompts(3), TEXT_TO_IMAGE, client=client, progress=False, max_credits=8)
    assert sorted(result["lamina_status"]) == ["completed", "error", "error"]


def test_dry_run_weighs_the_batch_against_the_balance(client, emulator, prompts):
    df = prompts(5)
    with metered(emulator, 10):
        report = run_dataframe(df, TEXT_TO_IMAGE, client=client, dry_run=True, max_credits=8)
    text = repr(report)
    assert "Credits: about 20" in text
    assert "NOT AFFORDABLE: about 20 credits needed, the balance is 10" in text
    assert "max_credits=10 would start 2 of 5" in text
    assert "max_credits=8: 2 of 5 row(s) would start; 3 would be skipped." in text
    assert report.balance == 10 and "NOT AFFORDABLE" in report._repr_html_()
    with metered(emulator, 100):
        fine = repr(run_dataframe(df, TEXT_TO_IMAGE, client=client, dry_run=True))
    assert "Balance: 100 credits; about 80 left after this batch." in fine and "NOT AFFORDABLE" not in fine


def test_max_credits_without_an_estimate_starts_nothing(emulator, prompts):
    emulator.reset_stats()
    legacy = Client(api_key=emulator.api_key, base_url=emulator.base_url, api="legacy")
    with legacy, pytest.raises(LaminaError, match="max_credits needs the app's credit estimate"):
        run_dataframe(prompts(2), TEXT_TO_IMAGE, client=legacy, progress=False, max_credits=100)
    assert emulator.stats["runs_created"] == 0


@pytest.mark.parametrize("bad", [-1, "10", True, float("nan")])
def test_max_credits_must_be_a_number(client, prompts, bad):
    with pytest.raises(ValueError, match="max_credits"):
        run_dataframe(prompts(1), TEXT_TO_IMAGE, client=client, max_credits=bad)


def test_the_cap_holds_when_starts_overlap(client, emulator, prompts):
    """Starts from several rows at once (concurrency 8, a slow server): still never past the cap."""
    emulator.configure(latency=0.3)
    emulator.reset_stats()
    result = run_dataframe(prompts(12), TEXT_TO_IMAGE, client=client, concurrency=8, progress=False,
                           max_credits=21)
    assert list(result["lamina_status"]).count("completed") == 5 and route_count(emulator, POST) == 5
