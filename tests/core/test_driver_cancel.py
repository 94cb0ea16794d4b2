"""The async driver's time bound on each step (asyncio.timeout on 3.11+, a careful wait_for on 3.10)
keeps every cancellation: a batch told to stop (Ctrl-C,
task.cancel()) stops, even when the cancel arrives in the loop turn where an event-stream line came in.
Before Python 3.12, asyncio.wait_for returned that line instead (CPython gh-86296) and the batch
went on following its runs (tests/reliability/test_rel_ledger.py's interrupted batches hung)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from lamina_jupyter.core.drivers import _cut as wait_for  # the driver's bound on each step

pytestmark = pytest.mark.anyio


async def cancelled_as_it_finishes(bounded) -> tuple[asyncio.Future, bool]:
    """`bounded(step, 10)` as a task, cancelled after its step finished but before it heard so."""
    gate = asyncio.get_running_loop().create_future()

    async def step() -> str:
        return await gate

    outer = asyncio.ensure_future(bounded(step(), 10))
    for _ in range(3):  # the outer task now waits on the step
        await asyncio.sleep(0)
    gate.set_result("a line")
    await asyncio.sleep(0)  # the step has finished; with a task of its own the outer hears next turn
    return outer, outer.cancel()  # False: the outer had finished before the cancel (nothing lost)


async def test_a_cancel_arriving_as_the_step_finishes_is_kept():
    if sys.version_info < (3, 12):  # the scenario is the real race: asyncio's own wait_for loses it
        outer, accepted = await cancelled_as_it_finishes(asyncio.wait_for)
        assert accepted and await outer == "a line"
    outer, accepted = await cancelled_as_it_finishes(wait_for)
    if accepted:
        with pytest.raises(asyncio.CancelledError):
            await outer
    else:  # asyncio.timeout ran the step in the outer task itself: it was done before the cancel
        assert outer.done() and outer.result() == "a line"


async def test_a_cancelled_or_timed_out_step_has_ended_before_the_caller_goes_on():
    """The driver closes the stream next; a line read still running on it would break that."""
    ended: list[str] = []

    async def step(name: str) -> None:
        try:
            await asyncio.sleep(10)
        finally:
            ended.append(name)

    with pytest.raises(asyncio.TimeoutError):
        await wait_for(step("timed out"), 0.01)
    assert ended == ["timed out"]
    outer = asyncio.ensure_future(wait_for(step("cancelled"), 10))
    await asyncio.sleep(0.01)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    assert ended == ["timed out", "cancelled"]


async def test_a_step_result_or_error_passes_through():
    async def fails() -> None:
        raise ValueError("the step's own error")

    assert await wait_for(asyncio.sleep(0, "done"), 1) == "done"
    with pytest.raises(ValueError, match="own error"):
        await wait_for(fails(), 1)
