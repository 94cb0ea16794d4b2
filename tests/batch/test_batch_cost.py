"""The fan-out's own cost: what `%load_ext` imports, what a fully ledgered re-run sends, memory per row.

Timings are not asserted here (the machine is shared); requests, imports and sizes are. The CPU
ratios are printed by bench/fanout_cpu.py and bench/client.py.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from suite import TEXT_TO_IMAGE

from lamina_jupyter import run_dataframe
from lamina_jupyter.batch.ledger import Journal
from lamina_jupyter.batch.mapping import map_columns, plan_rows


def _run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


SHELL = """
    import sys
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance(colors="nocolor")
"""


def test_load_ext_does_not_import_pandas_and_df_lamina_works_once_pandas_is_imported():
    out = _run_python(SHELL + """
    shell.run_line_magic("load_ext", "lamina_jupyter")
    print("after load_ext:", "pandas" in sys.modules)
    import pandas as pd
    from lamina_jupyter.batch.accessor import LaminaAccessor
    print("accessor:", type(pd.DataFrame({"prompt": ["a"]}).lamina).__name__)
    """)
    assert "after load_ext: False" in out
    assert "accessor: LaminaAccessor" in out


def test_load_ext_after_pandas_registers_at_once():
    out = _run_python(SHELL + """
    import pandas as pd
    shell.run_line_magic("load_ext", "lamina_jupyter")
    print("accessor:", type(pd.DataFrame({"prompt": ["a"]}).lamina).__name__)
    """)
    assert "accessor: LaminaAccessor" in out


def test_pandas_imported_inside_a_cell_has_df_lamina_in_the_same_cell():
    out = _run_python(SHELL + """
    shell.run_line_magic("load_ext", "lamina_jupyter")
    shell.run_line_magic("load_ext", "lamina_jupyter")  # loading twice installs one hook, not two
    result = shell.run_cell("import pandas as pd\\nkind = type(pd.DataFrame({'a': [1]}).lamina).__name__")
    result.raise_error()
    print("accessor:", shell.user_ns["kind"])
    from lamina_jupyter.batch import pandas_hook
    print("hooks left:", sum(isinstance(f, pandas_hook.PandasFinder) for f in sys.meta_path))
    """)
    assert "accessor: LaminaAccessor" in out
    assert "hooks left: 0" in out


def test_rerun_of_a_fully_ledgered_row_sends_no_request(client, emulator, prompts):
    """The second call reuses the ledger's result and the user client's cached app (fetched < 60 s
    ago in this process): nothing goes over the wire, not even the app lookup by name."""
    df = prompts(1)
    first = run_dataframe(df, TEXT_TO_IMAGE, client=client, progress=False)
    assert first["lamina_status"].tolist() == ["completed"]
    emulator.reset_stats()
    again = run_dataframe(df, TEXT_TO_IMAGE, client=client, progress=False)
    assert emulator.stats["requests"] == 0, emulator.stats["requests_by_route"]
    assert again["lamina_run_id"].tolist() == first["lamina_run_id"].tolist()
    assert again.attrs["lamina"]["report"]["reused"] == 1


def test_rows_to_send_are_checked_against_the_app_as_it_is_now_not_the_cached_one(client, emulator, prompts):
    """The shared cache only spares the lookup when the ledger holds every row: a new row is planned
    against the app fetched again, so a parameter removed a moment ago is reported, not sent."""
    df = prompts(1, **{"Aspect Ratio": ["16:9"]})
    run_dataframe(df, TEXT_TO_IMAGE, client=client, progress=False)
    emulator.edit_app(TEXT_TO_IMAGE, drop=["aspect-ratio"])
    emulator.reset_stats()
    with pytest.raises(ValueError, match="'Aspect Ratio'"):
        run_dataframe(prompts(1, **{"Aspect Ratio": ["16:9"]}), TEXT_TO_IMAGE, client=client, progress=False,
                      columns={"Aspect Ratio": "Aspect Ratio"})
    assert emulator.stats["requests"] == 1 and emulator.stats["runs_created"] == 0  # the app, fetched again


def test_ledger_commits_without_an_fsync_each_and_a_killed_process_loses_nothing(tmp_path):
    """WAL with synchronous=NORMAL: once COMMIT returns the write is the OS's (a SIGKILLed kernel loses
    nothing); only a power loss can drop the last commits. FULL fsynced three times per row on the
    event loop's thread (bench/fanout_cpu.py)."""
    path = tmp_path / "runs.sqlite"
    with Journal(path) as journal:
        assert journal._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        journal.add_pending([("k", 1, "b", "o", "a", "0", "f", "{}")])
    killed = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import os, signal
        from lamina_jupyter.batch.ledger import Journal
        journal = Journal({str(path)!r})
        journal.submitting("k", 1, 1.0)
        os.kill(os.getpid(), signal.SIGKILL)  # no close, no checkpoint
        """)], capture_output=True, text=True, timeout=60)
    assert killed.returncode == -9, killed.stderr
    with Journal(path) as journal:
        assert journal.latest(["k"])["k"].state == "SUBMITTING"


def test_text_rows_keep_no_dict_and_share_their_parameter_names(client, prompts):
    """For text and option values the wire payload equals the inputs: a planned row keeps its values as
    a tuple and no payload of its own, and rows of one shape share one tuple of names (10,000 planned
    rows cost ~630 B each with two dicts)."""
    app = client.get_app(TEXT_TO_IMAGE)
    df = prompts(3, **{"Aspect Ratio": ["16:9", None, "1:1"]})
    cmap = map_columns(app, df.columns)
    planned, problems = plan_rows(app, zip(df.index, df.to_dict("records"), strict=True), cmap)
    assert not problems and len(planned) == 3
    assert all(row.wire is None and row.payload == row.inputs for row in planned)
    assert planned[0].names is planned[2].names and planned[1].names == ("Prompt",)
    assert planned[0].inputs == {"Prompt": df["prompt"].iloc[0], "Aspect Ratio": "16:9"}
