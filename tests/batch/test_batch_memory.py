"""Memory of a batch (issue 17): what a finished row holds, and what a headless batch imports.

Sizes and module lists, never timings. The peak RSS of a 10,000-row batch is printed by bench/memory.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from suite import TEXT_TO_IMAGE

from lamina_jupyter import run_dataframe

ROWS = 2000
MAX_BYTES_PER_ROW = 900  # ~720 now; ~1,000 with an Outcome per row, ~1,900 with dicts per row and output


def _client_process(emulator, code: str) -> list[str]:
    """Run `code` in a process of its own against the session emulator: the emulator (a thread of this
    process) allocates per run too, and must not be counted as the client's."""
    env = {**os.environ, "LAMINA_API_KEY": emulator.api_key, "LAMINA_BASE_URL": emulator.base_url}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines()


def test_a_finished_row_holds_under_900_bytes(emulator, tmp_path):
    """Everything the batch still holds once every row finished (outcomes, run ids, progress, ledger),
    by tracemalloc over 2,000 rows. A row keeping its Run (raw body, Output objects) would hold
    several KiB, an Outcome object per row ~1,000 B."""
    out = _client_process(emulator, f"""
        import gc, tracemalloc, uuid
        import pandas as pd
        from lamina_jupyter import Client
        from lamina_jupyter.batch.drive import LoopThread
        from lamina_jupyter.batch.job import Job
        def batch(rows):
            df = pd.DataFrame({{"prompt": [f"{{uuid.uuid4().hex[:8]}} memory {{i}}" for i in range(rows)]}})
            job = Job(df, {TEXT_TO_IMAGE!r}, client=client, concurrency=64, progress=False,
                      journal={str(tmp_path / "runs.sqlite")!r})
            with LoopThread() as lt:
                lt.call(job.prepare(in_caller_loop=False))
                lt.call(job.execute(False))
                lt.call(job.close())
            return job

        with Client() as client:
            batch(20)  # the first batch imports, connects and opens the ledger: not a row's cost
            tracemalloc.start()
            gc.collect()
            start = tracemalloc.get_traced_memory()[0]
            job = batch({ROWS})
            gc.collect()
            print((tracemalloc.get_traced_memory()[0] - start) / {ROWS})
        print(sum(o.status == "completed" for o in job.outcomes.values()))
    """)
    per_row, completed = float(out[0]), int(out[1])
    assert completed == ROWS
    assert per_row < MAX_BYTES_PER_ROW, f"{per_row:.0f} B per finished row"


def test_a_row_is_let_go_once_dispatched(client, emulator, prompts, monkeypatch, tmp_path):
    """The batch drops each planned row when its task starts (the task holds it until the row ends),
    so rows planned up front shrink as rows finish; the spy on the real engine changes nothing."""
    from lamina_jupyter.batch import engine

    held: list[int] = []
    original = engine.Engine._submit

    async def spy(self, row, key, starts):
        held.append(sum(r is not None for r in self.planned))
        return await original(self, row, key, starts)

    monkeypatch.setattr(engine.Engine, "_submit", spy)
    result = run_dataframe(prompts(30), TEXT_TO_IMAGE, client=client, concurrency=4, progress=False,
                           journal=tmp_path / "runs.sqlite")
    assert (result["lamina_status"] == "completed").all()
    assert len(held) == 30
    assert all(n <= 30 - i - 1 for i, n in enumerate(held)), held  # the i-th start: i + 1 let go at least


def test_a_headless_batch_imports_no_widgets_ipython_pillow_or_cryptography(emulator, tmp_path):
    """A script's run_dataframe (no kernel, progress off) loads none of the notebook's heavy modules."""
    out = _client_process(emulator, f"""
        import sys
        import pandas as pd
        from lamina_jupyter import Client, run_dataframe
        df = pd.DataFrame({{"prompt": ["headless a", "headless b", "headless c"]}})
        with Client() as c:
            result = run_dataframe(df, {TEXT_TO_IMAGE!r}, client=c, progress=False,
                                   journal={str(tmp_path / "runs.sqlite")!r})
        print(result["lamina_status"].tolist())
        heavy = ["ipywidgets", "IPython", "PIL", "cryptography", "traitlets", "comm"]
        print([m for m in heavy if m in sys.modules])
    """)
    assert out == ["['completed', 'completed', 'completed']", "[]"]
