"""The outcomes of a batch kept column by column (issue 17): every field reads back as stored, a row
is a live view, and a stored row costs its slots rather than objects."""

from __future__ import annotations

import gc
import tracemalloc

import pandas as pd
import pytest
from suite import TEXT_TO_IMAGE

from lamina_jupyter import run_dataframe
from lamina_jupyter.batch.ledger import produced
from lamina_jupyter.batch.outcome import Outcome
from lamina_jupyter.batch.outcome_store import Outcomes
from lamina_jupyter.core.models import FromServer

FIELDS = ("status", "run_id", "outputs", "error", "seconds", "created_at", "completed_at")


def fields(o) -> tuple:
    return tuple(getattr(o, f) for f in FIELDS)


def image(value, status="completed", error=None, label="Image"):
    return produced(label, FromServer(value) if value else value, status, error, "image", "image/png")


OUTCOMES = {
    0: Outcome("completed", "run-0", (image("http://x/0.png"),), None, 1.25, "2026-01-01T00:00:00Z",
               "2026-01-01T00:00:01Z"),
    2: Outcome("failed", "run-2", (image("http://x/2a.png"), image(None, "failed", "nsfw", "Mask")),
               "one output failed", 0.0),
    3: Outcome("queued", "run-3"),
    4: Outcome("completed", "run-4", ()),
    6: Outcome("uncertain", None, None, "candidates: run-a, run-b"),
}


def stored(size: int = 8) -> Outcomes:
    store = Outcomes(size)
    for pos, o in OUTCOMES.items():
        store[pos] = o
    return store


def test_every_field_reads_back_as_stored():
    store = stored()
    assert list(store) == [0, 2, 3, 4, 6] and len(store) == 5
    for pos, o in OUTCOMES.items():
        assert fields(store[pos]) == fields(o), pos
    assert store[2].outputs[1].error == "nsfw" and store[0].outputs[0].error is None
    assert store[4].outputs == () and store[3].outputs is None  # no outputs vs none known yet
    assert store[2].seconds == 0.0 and store[3].seconds is None
    assert type(store[0].outputs[0].value) is FromServer  # still marked as server data
    assert 1 not in store and 7 not in store and 99 not in store and "0" not in store
    with pytest.raises(KeyError):
        store[1]


def test_a_row_is_a_live_view_and_a_new_outcome_replaces_every_field():
    store = stored()
    row = store[3]
    row.status, row.error = "running", "interrupted while running"
    assert (store[3].status, store[3].error) == ("running", "interrupted while running")
    assert store.setdefault(3, Outcome("queued", "other")).run_id == "run-3"  # kept, not replaced
    assert store.setdefault(5, Outcome("queued", "run-5")).run_id == "run-5" and 5 in store
    store[2] = Outcome("completed", "run-2b", (image("http://x/2b.png"),), None, 2.0)
    assert fields(store[2]) == fields(Outcome("completed", "run-2b", (image("http://x/2b.png"),), None, 2.0))
    store[0] = store[2]  # a row copied from another
    assert fields(store[0]) == fields(store[2]) and len(store) == 6


def test_positions_past_the_end_grow_every_column():
    store = stored(size=0)
    store[40] = OUTCOMES[2]
    assert list(store) == [0, 2, 3, 4, 6, 40] and fields(store[40]) == fields(OUTCOMES[2])
    assert fields(store[0]) == fields(OUTCOMES[0]) and 39 not in store


def test_a_stored_row_costs_its_slots_not_objects():
    """1,000 finished rows alike (their strings made beforehand, as the run's parsing makes them):
    an Outcome, a tuple and a Produced per row held ~260 B; here the columns' slots (8 per row)."""
    rows = 1000
    outcomes = [Outcome("completed", f"run-{i}", (image(f"http://x/{i}.png"),), None, 1.5, f"t{i}", f"u{i}")
                for i in range(rows)]
    gc.collect()
    tracemalloc.start()
    try:
        store = Outcomes(rows)
        for pos, o in enumerate(outcomes):
            store[pos] = o
        del o
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] / rows
    finally:
        tracemalloc.stop()
    assert held < 80, f"{held:.0f} B per stored row"
    assert fields(store[999]) == fields(outcomes[999])


def test_the_frame_is_what_the_same_values_as_lists_make(client, emulator, prompts, tmp_path):
    """The frame read from the columns (seconds straight from the store's floats) has the columns, order
    and dtypes that plain Python lists of its values give, as when it was built from one object per row."""
    df = prompts(6, fail_every=3)
    result = run_dataframe(df, TEXT_TO_IMAGE, client=client, progress=False, journal=tmp_path / "runs.sqlite")
    added = ["Image", "lamina_status", "lamina_error", "lamina_run_id", "lamina_seconds"]
    assert list(result.columns) == ["prompt", *added]
    expected = df.copy()
    for name in added:
        expected[name] = result[name].tolist()
    pd.testing.assert_frame_equal(result, expected)
    assert list(result["lamina_status"]) == ["failed", "completed", "completed"] * 2
    assert result["lamina_seconds"].dtype == "float64" and (result["lamina_seconds"] > 0).all()
