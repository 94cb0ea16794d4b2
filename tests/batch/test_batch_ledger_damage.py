"""A damaged ledger row (outputs edited by hand, a disk error, another tool) is a JournalError that
names the file and the row and gives the usual advice, never a raw JSONDecodeError, TypeError or
RecursionError out of the fan-out."""

from __future__ import annotations

import sqlite3

import pytest
from suite import TEXT_TO_IMAGE

from lamina_jupyter import run_dataframe
from lamina_jupyter.batch.ledger import JournalError

DAMAGE = {
    "not_json": "{'url': oops",
    "not_a_list": '{"url": "https://x"}',
    "list_of_numbers": "[1, 2, 3]",
    "deep": "[" * 100_000 + "]" * 100_000,
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_outputs_row_is_a_journal_error_naming_file_and_row(client, emulator, prompts, tmp_path,
                                                                     damage):
    ledger = tmp_path / "runs.sqlite"
    df = prompts(3)
    run_dataframe(df, TEXT_TO_IMAGE, client=client, journal=ledger, progress=False)
    with sqlite3.connect(ledger) as conn:
        row_key = conn.execute("SELECT row_key FROM attempts ORDER BY row_key LIMIT 1").fetchone()[0]
        conn.execute("UPDATE attempts SET outputs=? WHERE row_key=?", (DAMAGE[damage], row_key))
    emulator.reset_stats()
    with pytest.raises(JournalError) as info:
        run_dataframe(df, TEXT_TO_IMAGE, client=client, journal=ledger, progress=False)
    message = str(info.value)
    assert str(ledger) in message and row_key in message
    assert "journal=" in message and "mv " in message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert emulator.stats["runs_created"] == 0
