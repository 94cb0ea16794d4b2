"""Attacks on "our other starts in flight" (RunRegistry.flight / siblings) in the lost-start rule, over
real HTTP (an adversary review; each failed on the rule's first version).

A sibling start owns a run only while its request is on the wire or its outcome is unknown, and only
one made after that request went out: a start the server refused (and that waits to resend) owns
none, so it neither absorbs a stranger's run nor leaves our own in doubt. Flights are keyed by the
server, not the base URL's spelling.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor

import httpx
from suite import CAPTION_WRITER
from teammates import private_emulator, teammate_start

from lamina_jupyter import Client
from lamina_jupyter.core import flows
from lamina_jupyter.core.errors import UncertainStartError

START = "POST /v1/apps/*/runs"
STARTS_SEEN = "POST /v1/apps/{id}/runs"
THEIRS = {"topic_text": "teammate secret launch"}


def inputs_of(emu, run_id: str) -> dict:
    return next(r["inputs"] for r in emu.runs() if r["run_id"] == run_id)


def refused_sibling(emu, client: Client, pool: ThreadPoolExecutor, retry_after: float) -> Future:
    """Another start of the app in this process (a second form, a thread) that the server refuses
    with 408 + Retry-After before creating anything: it sleeps in flight, owning no run."""
    seen = emu.stats["requests_by_route"].get(STARTS_SEEN, 0)
    emu.inject("status", route=START, status=408, retry_after=retry_after)
    sibling = pool.submit(client.start, CAPTION_WRITER, {"Topic": "sibling"})
    while emu.stats["requests_by_route"].get(STARTS_SEEN, 0) <= seen:  # it took the refusal
        time.sleep(0.01)
    return sibling


class TeammateOnTheWire(httpx.HTTPTransport):
    """Our start's request is slow to leave: a teammate's start of the same app lands meanwhile."""

    def __init__(self, emu) -> None:
        super().__init__()
        self.emu, self.theirs = emu, ""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not self.theirs and request.method == "POST" and request.url.path.endswith("/runs"):
            self.theirs = teammate_start(self.emu, CAPTION_WRITER, THEIRS, endpoint="executions")
        return super().handle_request(request)


def test_a_sibling_the_server_refused_does_not_make_a_crowded_app_look_quiet():
    """A teammate ran the app a moment ago, so a lone rival is doubt (CROWD_HORIZON). Our start is
    reset before the server handled it, while the teammate's next run lands during its flight. A
    second start of ours was refused (408) before ours was sent: it owns no run, but counts as a
    sibling owning one, the teammate's earlier run fills that slot, and theirs is taken as ours."""
    with private_emulator() as emu, Client(api_key=emu.api_key, base_url=emu.base_url) as c, \
            ThreadPoolExecutor(1) as pool:
        c.start(CAPTION_WRITER, {"Topic": "warm-up"})  # pins the server's clock
        teammate_start(emu, CAPTION_WRITER, THEIRS)  # the app is crowded
        time.sleep(0.3)
        sibling = refused_sibling(emu, c, pool, retry_after=3)
        emu.inject("reset", route=START)
        wire = TeammateOnTheWire(emu)
        with Client(api_key=emu.api_key, base_url=emu.base_url, transport=wire) as ours:
            try:
                taken = ours.start(CAPTION_WRITER, {"Topic": "ours"}).id
            except UncertainStartError as err:
                taken = ""
                assert err.candidates == (wire.theirs,)
        assert inputs_of(emu, sibling.result().id) == {"Topic": "sibling"}
    assert taken != wire.theirs, "our start holds the teammate's run"


def test_a_sibling_the_server_refused_does_not_leave_our_own_run_in_doubt(monkeypatch):
    """A quiet app: our start's answer is lost after the server made the run, the only run listed.
    The refused sibling will not resend before the patience ends, so it can never name a run; our
    run is still taken for one it might own, waited on and doubted (SIBLING_PATIENCE shortened)."""
    monkeypatch.setattr(flows, "SIBLING_PATIENCE", 2.0)
    with private_emulator() as emu, Client(api_key=emu.api_key, base_url=emu.base_url) as c, \
            ThreadPoolExecutor(1) as pool:
        c.start(CAPTION_WRITER, {"Topic": "warm-up"})
        sibling = refused_sibling(emu, c, pool, retry_after=4)
        emu.inject("accept_then_drop", route=START)
        try:
            run = c.start(CAPTION_WRITER, {"Topic": "ours"})
        finally:
            sibling.result()
        assert inputs_of(emu, run.id) == {"Topic": "ours"}


def test_a_sibling_on_another_spelling_of_the_same_server_keeps_its_run():
    """A form's client says localhost, a cell's 127.0.0.1: one server. The sibling's run is made
    during our flight and its answer stalls; ours never arrived. Keyed by spelling, the sibling is
    not counted, its run is the lone rival, and both starts hold the same run (ours was never made)."""
    with private_emulator() as emu, Client(api_key=emu.api_key, base_url=emu.base_url) as c, \
            Client(api_key=emu.api_key, base_url=emu.base_url.replace("127.0.0.1", "localhost")) as form, \
            ThreadPoolExecutor(1) as pool:
        c.start(CAPTION_WRITER, {"Topic": "warm-up"})
        sibling: list[Future] = []

        class SiblingOnTheWire(httpx.HTTPTransport):
            def handle_request(self, request: httpx.Request) -> httpx.Response:
                if not sibling and request.method == "POST" and request.url.path.endswith("/runs"):
                    emu.inject("delay", route=START, seconds=3.0, after=True)
                    sibling.append(pool.submit(form.start, CAPTION_WRITER, {"Topic": "sibling"}))
                    while len(emu.runs()) < 2:  # the sibling's run exists, its answer is held
                        time.sleep(0.01)
                    emu.inject("reset", route=START)
                return super().handle_request(request)

        with Client(api_key=emu.api_key, base_url=emu.base_url, transport=SiblingOnTheWire()) as ours:
            mine = ours.start(CAPTION_WRITER, {"Topic": "ours"})
        theirs = sibling[0].result()
    assert mine.id != theirs.id, "two starts hold one run"
