"""The result frame's columns are added in one DataFrame constructor call where that gives exactly
what setting them one by one gives (results.py `with_columns`); elsewhere they are set one by one.

Each frame below is built both ways and compared: labels, order, dtypes (inputs' kept exactly, the
added lists inferred as setitem infers them), index, attrs, flags, and no memory shared with the
caller's frame.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas._testing import shares_memory

from lamina_jupyter.batch.results import _in_one_call, with_columns
from lamina_jupyter.core.models import FromServer

ROWS = 3


def added(n: int) -> dict[str, object]:
    """Columns as result_frame makes them: outputs (server text or None), an all-None output, status,
    errors (None and text), run ids and the seconds array."""
    return {
        "Image": [FromServer(f"https://cdn.example/{i}.png") if i % 2 else None for i in range(n)],
        "Caption": [None] * n,
        "lamina_status": ["completed"] * n,
        "lamina_error": [None, *["boom"] * (n - 1)][:n],
        "lamina_run_id": [f"run_{i}" for i in range(n)],
        "lamina_seconds": np.full(n, 1.5),
    }


def one_by_one(df: pd.DataFrame, columns: dict[str, object]) -> pd.DataFrame:
    """What result_frame did before: a copy, then one setitem per column."""
    result = df.copy()
    for name, values in columns.items():
        result[name] = values
    return result


def _frame(**columns: object) -> pd.DataFrame:
    return pd.DataFrame(columns)


IN_ONE_CALL = {
    "str and int": _frame(prompt=list("abc"), seed=[1, 2, 3]),
    "object": _frame(o=pd.Series(["a", "b", None], dtype=object),
                     when=pd.Series([pd.Timestamp("2024-01-01")] * 3, dtype=object)),
    "mixed object": _frame(m=pd.Series([1, "a", [2]], dtype=object)),
    "categorical": _frame(c=pd.Categorical(["x", "y", "x"])),
    "nullable": _frame(i=pd.array([1, None, 3], dtype="Int64"),
                       b=pd.array([True, None, False], dtype="boolean")),
    "datetime tz": _frame(t=pd.date_range("2024-01-01", periods=3, tz="Europe/Paris")),
    "string": _frame(s=pd.array(["a", None, "c"], dtype="string")),
    "float, bool, timedelta": _frame(f=[1.0, np.nan, 2.0], b=[True, False, True],
                                     td=pd.to_timedelta([1, 2, 3], unit="s")),
    "period, interval, sparse": _frame(p=pd.period_range("2024-01", periods=3, freq="M"),
                                       iv=pd.interval_range(0, 3), sp=pd.arrays.SparseArray([0, 1, 0])),
    "named index": _frame(p=list("abc")).set_axis(pd.Index([10, 20, 30], name="row")),
    "duplicate index": _frame(p=list("abc")).set_axis([1, 1, 2]),
    "MultiIndex index": _frame(p=list("abc")).set_axis(
        pd.MultiIndex.from_tuples([(1, "a"), (1, "b"), (2, "a")], names=["g", "h"])),
    "datetime index": _frame(p=list("abc")).set_axis(pd.date_range("2024", periods=3, freq="D")),
    "sliced": _frame(p=list("abcdef"), q=range(6)).iloc[::2],
    "integer labels": pd.DataFrame([[1, "a"], [2, "b"], [3, "c"]]),
    "named labels": _frame(a=[1, 2, 3]).rename_axis(columns="inputs"),
    "mixed object labels": _frame(a=[1, 2, 3], b=[4, 5, 6]).set_axis(pd.Index([0, "a"], dtype=object),
                                                                      axis=1),
    "no input columns": pd.DataFrame(index=range(3)),
    "an input named lamina_status": _frame(lamina_status=["x", "y", "z"], p=[1, 2, 3]),
    "attrs": _frame(p=list("abc")),
    "no duplicate labels flag": _frame(p=list("abc")).set_flags(allows_duplicate_labels=False),
}
IN_ONE_CALL["attrs"].attrs["note"] = {"kept": [1, 2]}
ONE_BY_ONE = {
    "repeated labels": pd.DataFrame([[1, 2]] * 3, columns=["a", "a"]),
    "MultiIndex labels": pd.DataFrame([[1, 2]] * 3,
                                      columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")])),
    "object labels of text": _frame(a=[1, 2, 3]).set_axis(pd.Index(["a"], dtype=object), axis=1),
    "string labels": _frame(a=[1, 2, 3]).set_axis(pd.Index(["a"], dtype="string"), axis=1),
    "categorical labels": _frame(a=[1, 2, 3]).set_axis(pd.CategoricalIndex(["a"]), axis=1),
}


def _same_as_one_by_one(df: pd.DataFrame, rows: int) -> pd.DataFrame:
    expected = one_by_one(df, added(rows))
    result = with_columns(df, added(rows))
    pd.testing.assert_frame_equal(result, expected, check_dtype=True, check_column_type=True,
                                  check_index_type=True, check_exact=True, check_flags=True)
    assert list(result.columns) == list(expected.columns)
    assert list(result.dtypes) == list(expected.dtypes)
    assert result.columns.name == expected.columns.name and result.index.names == expected.index.names
    assert result.attrs == expected.attrs == df.attrs
    assert [type(v) for v in result["Image"]] == [type(v) for v in expected["Image"]]
    return result


def _shares_nothing(df: pd.DataFrame, result: pd.DataFrame) -> None:
    for i, label in enumerate(df.columns):
        assert not shares_memory(df.iloc[:, i], result.iloc[:, i]), label
    for note in df.attrs.values():
        assert all(note is not other for other in result.attrs.values())
    result.index.name, result.columns.name = "renamed", "renamed"
    assert df.index.name != "renamed" and df.columns.name != "renamed"


@pytest.mark.parametrize("name", IN_ONE_CALL)
@pytest.mark.parametrize("rows", [ROWS, 1, 0])
def test_one_constructor_call_gives_what_setting_columns_one_by_one_gives(name, rows):
    df = IN_ONE_CALL[name].iloc[:rows]
    assert _in_one_call(df, added(rows)) is not None, "this frame should take the one-call path"
    _shares_nothing(df, _same_as_one_by_one(df, rows))


@pytest.mark.parametrize("name", ONE_BY_ONE)
@pytest.mark.filterwarnings("ignore:Setting a new column on a DataFrame with a MultiIndex")  # as before
def test_frames_one_call_would_change_are_built_one_by_one(name):
    df = ONE_BY_ONE[name]
    assert _in_one_call(df, added(ROWS)) is None
    _shares_nothing(df, _same_as_one_by_one(df, ROWS))


def test_a_dataframe_subclass_keeps_its_class():
    class Tagged(pd.DataFrame):
        @property
        def _constructor(self):
            return Tagged

    df = Tagged({"p": list("abc")})
    assert _in_one_call(df, added(ROWS)) is None
    assert type(with_columns(df, added(ROWS))) is Tagged
