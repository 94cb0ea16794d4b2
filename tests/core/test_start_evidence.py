"""A lost start answer never hands us someone else's run (issue 11, part 1), over real HTTP.

The teammate scenario: another process starts "Caption Writer"; 0.2 s later our start is reset
before the server handled it, so our run never existed. Run lists carry no inputs, so the only
evidence is the process-wide registry of runs we know and the server-clock window of our request.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import pytest
from suite import CAPTION_WRITER, route_count
from teammates import crowd, private_emulator, teammate_start

from lamina_jupyter import AsyncClient, Client
from lamina_jupyter.core.claims import clock_for
from lamina_jupyter.core.errors import UncertainStartError
from lamina_jupyter.core.flows import MAX_CLOCK_DOUBT

START = "POST /v1/apps/*/runs"
LISTING = "GET /v1/runs"
THEIRS = {"topic_text": "teammate secret launch"}


def ours(text: str = "our own launch") -> dict[str, str]:
    return {"Topic": text}


def client_for(emu):
    return Client(api_key=emu.api_key, base_url=emu.base_url)


def inputs_of(emu, run_id):
    return next(r["inputs"] for r in emu.runs() if r["run_id"] == run_id)


def teammate_then_reset(emu) -> str:
    """Their run, then 0.2 s later our start is reset before the server handles it."""
    theirs = teammate_start(emu, CAPTION_WRITER, THEIRS)
    time.sleep(0.2)
    emu.inject("reset", route=START)
    return theirs


def test_start_of_a_fresh_client_says_doubt_instead_of_returning_the_teammates_run():
    with private_emulator() as emu, client_for(emu) as c:
        theirs = teammate_then_reset(emu)
        with pytest.raises(UncertainStartError) as info:
            c.start(CAPTION_WRITER, ours())
    assert info.value.candidates == (theirs,) and f"client.get_run({theirs!r})" in str(info.value)
    assert "start again" in str(info.value) and len(emu.runs()) == 1  # nothing resent on a guess


def test_start_of_a_client_that_knows_the_server_clock_resends_and_returns_its_own_run():
    with private_emulator() as emu, client_for(emu) as c:
        c.start(CAPTION_WRITER, ours("warm-up"))  # its createdAt pins the server's clock
        theirs = teammate_then_reset(emu)
        run = c.start(CAPTION_WRITER, ours())
    assert run.id != theirs and inputs_of(emu, run.id) == ours()
    assert emu.stats["runs_created"] == 3  # warm-up, theirs, ours: ours once


def test_run_never_completes_with_the_teammates_output():
    with private_emulator() as emu, client_for(emu) as c:
        theirs = teammate_then_reset(emu)
        with pytest.raises(UncertainStartError) as info:
            c.run(CAPTION_WRITER, ours(), timeout=30)
        assert info.value.candidates == (theirs,)
        c.start(CAPTION_WRITER, ours("warm-up"))
        teammate_then_reset(emu)
        done = c.run(CAPTION_WRITER, ours("second try"), timeout=30)
    assert done.status == "completed" and "second try" in str(done.outputs[0].value)
    assert "teammate" not in str(done.outputs[0].value)


@pytest.mark.anyio
async def test_async_start_follows_the_same_rule():
    with private_emulator() as emu:
        async with AsyncClient(api_key=emu.api_key, base_url=emu.base_url) as c:
            theirs = teammate_then_reset(emu)
            with pytest.raises(UncertainStartError) as info:
                await c.start(CAPTION_WRITER, ours())
    assert info.value.candidates == (theirs,)


def test_a_run_another_client_of_this_process_started_is_never_taken():
    """A form or another notebook cell in the same kernel: the registry knows its run."""
    with private_emulator() as emu, client_for(emu) as mine, client_for(emu) as form:
        theirs = form.start(CAPTION_WRITER, THEIRS).id
        emu.inject("reset", route=START)
        run = mine.start(CAPTION_WRITER, ours())  # the clock is known (the form's start), theirs is taken
    assert run.id != theirs and inputs_of(emu, run.id) == ours()


def test_answer_lost_after_our_run_was_created_adopts_exactly_that_run():
    """The opposite case: nobody else ran the app, the server made our run and the answer was lost."""
    with private_emulator() as emu, client_for(emu) as c:
        c.start(CAPTION_WRITER, ours("warm-up"))
        emu.inject("accept_then_drop", route=START)
        run = c.start(CAPTION_WRITER, ours())
    assert inputs_of(emu, run.id) == ours() and emu.stats["runs_created"] == 2


def test_answer_lost_to_a_fresh_client_names_the_run_and_never_pays_twice():
    with private_emulator() as emu, client_for(emu) as c:
        emu.inject("accept_then_drop", route=START)
        with pytest.raises(UncertainStartError) as info:
            c.start(CAPTION_WRITER, ours())
    (created,) = emu.runs()
    assert info.value.candidates == (created["run_id"],) and emu.stats["runs_created"] == 1


@contextlib.contextmanager
def crowd_off_our_start(emu, gate: threading.Lock) -> Iterator[None]:
    """Hold the crowd (and our earlier runs) out of the evidence window of the start in the block.

    A stranger's run made while our start was in flight, give or take what we know of the server's
    clock, is the residual no run list can tell from ours (docs/design-notes.md), and a loaded machine
    widens that flight. So the crowd stops a clock's doubt (plus 50 ms) before the start, and resumes
    MAX_CLOCK_DOUBT (plus 50 ms) after our client first lists runs to settle the lost answer: its window
    is fixed by then, and runs made while it waits to look again are outside it."""
    gate.acquire()
    time.sleep(max(MAX_CLOCK_DOUBT, clock_for(emu.base_url).doubt) + 0.05)
    listings, done = route_count(emu, LISTING), threading.Event()

    def resume() -> None:
        while route_count(emu, LISTING) == listings and not done.wait(0.01):
            pass
        time.sleep(MAX_CLOCK_DOUBT + 0.05)
        gate.release()

    thread = threading.Thread(target=resume, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def test_in_a_crowd_a_lost_answer_yields_our_run_or_doubt_never_a_strangers():
    """The crowded twin: a teammate starts the same app every 0.15 s while our answers get lost."""
    gate = threading.Lock()
    with private_emulator() as emu, client_for(emu) as c:
        c.start(CAPTION_WRITER, ours("warm-up"))
        with crowd(emu, CAPTION_WRITER, THEIRS, gate=gate) as strangers:
            outcomes = []
            for i in range(6):
                with crowd_off_our_start(emu, gate):
                    emu.inject("accept_then_drop" if i % 2 else "reset", route=START)
                    try:
                        outcomes.append(c.start(CAPTION_WRITER, ours(f"crowded {i}")).id)
                    except UncertainStartError as err:
                        outcomes.append(err.candidates)
        assert strangers  # the crowd really ran
        for i, got in enumerate(outcomes):
            if isinstance(got, str):
                assert got not in strangers and inputs_of(emu, got) == ours(f"crowded {i}")
            else:
                assert any(inputs_of(emu, r) == ours(f"crowded {i}") for r in got) or all(
                    r in strangers for r in got)
