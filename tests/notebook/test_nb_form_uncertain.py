"""The form after a lost start answer (issue 11, part 1): it shows the doubt and the candidate run,
never a teammate's output as if it were ours. Headless widgets, real emulator, real HTTP."""

from __future__ import annotations

import asyncio
import time

import pytest
from suite import CAPTION_WRITER
from teammates import private_emulator, teammate_start

pytestmark = pytest.mark.anyio


@pytest.fixture
def lonely_session():
    """The kernel's client points at a server of its own (nothing here knows its clock yet)."""
    from lamina_jupyter import Client
    from lamina_jupyter.notebook import session

    with private_emulator() as emu:
        session.set_client(Client(api_key=emu.api_key, base_url=emu.base_url), "test")
        yield emu
        session.reset()


async def test_run_button_shows_uncertainty_not_the_teammates_output(lonely_session):
    from lamina_jupyter import form

    emu = lonely_session
    f = form(CAPTION_WRITER)
    next(x for x in f.fields if x.param.name == "Topic").set("our own launch")
    theirs = teammate_start(emu, CAPTION_WRITER, {"topic_text": "teammate secret launch"})
    time.sleep(0.2)
    emu.inject("reset", route="POST /v1/apps/*/runs")
    f.run_button.click()
    assert await asyncio.wait_for(f.finished(), 30) is None
    assert "uncertain" in f.status.value and theirs in f.problems.value
    assert "get_run" in f.problems.value and "teammate" not in f.outputs.value
    assert "uncertain" in f.history.value and not f.run_button.disabled
