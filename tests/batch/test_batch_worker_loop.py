"""The worker loop run_dataframe keeps between calls (batch/drive.py worker_loop): one idle thread at
most, reused only after a call that ended normally and left nothing running on it; a call that fails,
leaves a task behind or runs beside another gets a loop of its own, stopped when it ends."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

import pytest
from suite import TEXT_TO_IMAGE

from lamina_jupyter import run_dataframe
from lamina_jupyter.batch.drive import release_spare, worker_loop
from lamina_jupyter.core.errors import LaminaError


def _workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "lamina-fanout"]


@pytest.fixture(autouse=True)
def _no_spare():
    release_spare()
    yield
    release_spare()


def test_calls_in_a_row_share_one_idle_worker_thread(client, prompts, tmp_path):
    df = prompts(2)
    first = run_dataframe(df, TEXT_TO_IMAGE, client=client, journal=tmp_path / "l.sqlite", progress=False)
    (spare,) = _workers()
    again = run_dataframe(df, TEXT_TO_IMAGE, client=client, journal=tmp_path / "l.sqlite", progress=False)
    assert _workers() == [spare]  # the same thread ran the second call and waits for the next
    assert list(again["lamina_run_id"]) == list(first["lamina_run_id"])
    release_spare()
    assert _workers() == [] and not spare.is_alive()


def test_a_call_that_fails_does_not_keep_its_loop(client, prompts):
    run_dataframe(prompts(1), TEXT_TO_IMAGE, client=client, journal=False, progress=False)
    (spare,) = _workers()
    with pytest.raises(LaminaError, match="no-such-app"):
        run_dataframe(prompts(1), "no-such-app", client=client, journal=False, progress=False)
    assert _workers() == [] and not spare.is_alive()


def test_a_loop_with_a_task_left_on_it_is_stopped_not_kept():
    async def leave_a_task_behind() -> None:
        asyncio.get_running_loop().create_task(asyncio.sleep(3600))

    with worker_loop() as lt:
        lt.call(leave_a_task_behind())
    assert _workers() == [] and not lt.thread.is_alive()
    with worker_loop() as lt:
        lt.call(asyncio.sleep(0))
    assert _workers() == [lt.thread]


def test_calls_from_two_threads_at_once_each_get_a_loop_and_one_is_kept(client, prompts, emulator):
    emulator.configure(latency=0.3)
    results: dict[int, object] = {}

    def call(i: int) -> None:
        results[i] = run_dataframe(prompts(3), TEXT_TO_IMAGE, client=client, journal=False, progress=False)

    callers = [threading.Thread(target=call, args=(i,)) for i in range(2)]
    for t in callers:
        t.start()
    for t in callers:
        t.join(60)
    assert all((results[i]["lamina_status"] == "completed").all() for i in range(2))
    assert len(_workers()) == 1


def test_a_forked_child_makes_its_own_loop(client, prompts):
    run_dataframe(prompts(1), TEXT_TO_IMAGE, client=client, journal=False, progress=False)
    assert len(_workers()) == 1
    pid = os.fork()
    if pid == 0:  # the child has the parent's spare loop but not its thread: it must not wait on it
        code = 1
        try:
            signal.alarm(20)  # a child waiting on a loop nobody runs is killed, and the test fails
            with worker_loop() as lt:
                code = 0 if lt.call(asyncio.sleep(0, "ran")) == "ran" else 2
        finally:
            os._exit(code)
    assert os.waitpid(pid, 0)[1] == 0
