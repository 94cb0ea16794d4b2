"""Starts in flight, as the run registry keeps them: the accounting a lost start is settled with (a
sibling's run, listed before its answer, is not a stranger's; a sibling with no request on the wire
owns no run)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from lamina_jupyter.core.claims import RunRegistry, server_key

HERE, THERE = "http://127.0.0.1:1", "http://127.0.0.1:2"


def test_a_start_is_not_its_own_sibling_and_nesting_shares_one_flight():
    runs = RunRegistry()
    with runs.flight(HERE, "app") as outer:
        outer.sent = 5.0
        with runs.flight(HERE, "app") as inner:  # a batch row settling the client's own start
            assert inner is outer and runs.siblings(HERE, "app") == []
    assert runs._flights == {}


def test_only_siblings_with_a_request_on_the_wire_count():
    runs, inside, leave = RunRegistry(), threading.Barrier(4), threading.Event()

    def start(server: str, app: str, sent: float | None) -> None:
        with runs.flight(server, app) as flight:
            flight.sent = sent
            inside.wait()
            leave.wait()

    args = ((HERE, "app", 2.0), (THERE, "app", 3.0), (HERE, "app", None))  # the last one waits its turn
    threads = [threading.Thread(target=start, args=a) for a in args]
    for t in threads:
        t.start()
    inside.wait()
    assert runs.siblings(HERE, "app") == [2.0] and runs.siblings(THERE, "app") == [3.0]
    assert runs.siblings(HERE, "other-app") == []
    with runs.flight(HERE, "app") as mine:
        mine.sent = 4.0
        assert runs.siblings(HERE, "app") == [2.0]  # ours is not counted, the thread's is
    leave.set()
    for t in threads:
        t.join()
    assert runs.siblings(HERE, "app") == [] and runs._flights == {}


@pytest.mark.anyio
async def test_each_task_of_a_batch_is_its_own_start():
    runs, gate = RunRegistry(), asyncio.Event()
    seen: list[list[float]] = []

    async def row(sent: float) -> None:
        with runs.flight(HERE, "app") as flight:
            flight.sent = sent
            await gate.wait()
            seen.append(runs.siblings(HERE, "app"))

    tasks = [asyncio.ensure_future(row(float(i))) for i in range(3)]
    await asyncio.sleep(0)
    assert runs.siblings(HERE, "app") == [0.0, 1.0, 2.0]  # the test's own task has none in flight
    gate.set()
    await asyncio.gather(*tasks)
    assert seen == [[1.0, 2.0], [2.0], []] and runs.siblings(HERE, "app") == []


def test_a_failed_start_leaves_the_flight():
    runs = RunRegistry()
    with pytest.raises(TimeoutError), runs.flight(HERE, "app") as flight:
        flight.sent = 1.0
        raise TimeoutError
    assert runs._flights == {}


@pytest.mark.parametrize("spelling", ["http://localhost:8080", "HTTP://127.0.0.1:8080/v1/", "http://[::1]:8080"])
def test_one_server_has_one_key_however_its_url_is_spelled(spelling):
    assert server_key(spelling) == server_key("http://127.0.0.1:8080")
    assert server_key("https://API.example.com") == server_key("https://api.example.com:443/")
    assert server_key("http://127.0.0.1:8081") != server_key("http://127.0.0.1:8080")
