"""Starts in flight, as the run registry counts them: the accounting a lost start is settled with
(a sibling's run, listed before its answer, is not a stranger's)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from lamina_jupyter.core.claims import RunRegistry

HERE, THERE = "http://127.0.0.1:1", "http://127.0.0.1:2"


def test_a_start_is_not_its_own_sibling_and_nesting_counts_once():
    runs = RunRegistry()
    assert runs.siblings(HERE, "app") == 0
    with runs.flight(HERE, "app"):
        with runs.flight(HERE, "app"):  # a batch row settling the client's own start
            assert runs.siblings(HERE, "app") == 0
        assert runs.siblings(HERE, "app") == 0
    assert runs.siblings(HERE, "app") == 0 and runs._flights == {}


def test_other_threads_starts_of_the_same_app_on_the_same_server_are_siblings():
    runs, inside, leave = RunRegistry(), threading.Barrier(3), threading.Event()

    def start(server: str, app: str) -> None:
        with runs.flight(server, app):
            inside.wait()
            leave.wait()

    threads = [threading.Thread(target=start, args=a) for a in ((HERE, "app"), (THERE, "app"))]
    for t in threads:
        t.start()
    inside.wait()
    assert runs.siblings(HERE, "app") == 1 and runs.siblings(THERE, "app") == 1
    assert runs.siblings(HERE, "other-app") == 0
    with runs.flight(HERE, "app"):
        assert runs.siblings(HERE, "app") == 1  # ours is not counted, the thread's is
    leave.set()
    for t in threads:
        t.join()
    assert runs.siblings(HERE, "app") == 0


@pytest.mark.anyio
async def test_each_task_of_a_batch_is_its_own_start():
    runs, gate = RunRegistry(), asyncio.Event()
    seen: list[int] = []

    async def row() -> None:
        with runs.flight(HERE, "app"):
            await gate.wait()
            seen.append(runs.siblings(HERE, "app"))

    tasks = [asyncio.ensure_future(row()) for _ in range(3)]
    await asyncio.sleep(0)
    assert runs.siblings(HERE, "app") == 3  # the test's own task has none in flight
    gate.set()
    await asyncio.gather(*tasks)
    assert seen == [2, 1, 0] and runs.siblings(HERE, "app") == 0


def test_a_failed_start_leaves_the_flight():
    runs = RunRegistry()
    try:
        with runs.flight(HERE, "app"):
            raise TimeoutError
    except TimeoutError:
        pass
    assert runs._flights == {}
    with runs.flight(HERE, "app"):  # and this context counts a new start again
        pass
