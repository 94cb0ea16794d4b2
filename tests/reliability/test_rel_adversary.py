"""The adversary: a hostile media host, a hostile app author, a careless teammate. Each test states a
rule of the threat model (docs/design-notes.md) and attacks it; none may hold only on a quiet day."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import traceback
import uuid
from pathlib import Path

import pandas as pd
import pytest
from suite import CARTOONIFY, TEXT_TO_IMAGE, route_count
from wire_faults import Respond, WireServer

import lamina_jupyter
from lamina_jupyter.batch import gallery
from lamina_jupyter.core import models
from lamina_jupyter.core.client import Client
from lamina_jupyter.core.discover import Discovery
from lamina_jupyter.core.errors import LaminaError, ValidationError
from lamina_jupyter.core.inputs import FromServer
from lamina_jupyter.core.models import Run
from lamina_jupyter.core.refine import RunVersion
from lamina_jupyter.notebook.form import Form
from lamina_jupyter.notebook.form_batch import prefill


class Trickle:
    """A media host that answers at once, then sends one byte every `gap` seconds for `lasts` seconds:
    no single read ever times out, yet the body never ends."""

    def __init__(self, gap: float = 0.1, lasts: float = 8.0) -> None:
        self.gap, self.lasts = gap, lasts
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/media.png"
        self.threads: list[threading.Thread] = []
        self._spawn(self._accept)

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self.threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(1.0)
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 1000000\r\n\r\n")
            end = time.monotonic() + self.lasts
            while time.monotonic() < end and not self.stop.wait(self.gap):
                conn.sendall(b"\0")

    def __enter__(self) -> Trickle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.listener.close()
        for thread in self.threads:
            thread.join(5)


def _timed(call) -> tuple[float, BaseException | None]:
    start = time.monotonic()
    try:
        call()
    except Exception as exc:  # the outcome is judged by the caller
        return time.monotonic() - start, exc
    return time.monotonic() - start, None


# 3. Every wait and read is bounded: a media host that trickles ---------------------------------------
@pytest.mark.parametrize("path", ["output_read", "download", "gallery"])
def test_a_trickling_media_host_is_cut_at_the_media_bound(scenario, monkeypatch, tmp_path, path):
    scenario.add(faults_injected=1)
    monkeypatch.setattr(models, "MEDIA_SECONDS", 1.0)
    with Trickle() as host:
        out = models.Output.from_json({"id": "o1", "label": "img", "type": "image", "status": "completed",
                                       "value": host.url})
        df = pd.DataFrame({"prompt": ["a"], "img": [host.url]})
        df.attrs["lamina"] = {"outputs": [{"column": "img", "label": "img", "type": "image"}]}
        calls = {"output_read": out.read,
                 "download": lambda: gallery.download(df, pattern=f"{tmp_path}/{{index}}.{{ext}}"),
                 "gallery": lambda: gallery.gallery(df)}
        seconds, exc = _timed(calls[path])
    assert seconds < 4.0, f"{path} took {seconds:.1f} s against a 1 s media bound"
    if path == "gallery":
        return  # a tile that could not be fetched becomes a placeholder
    assert exc is not None and "1 s" in str(exc), exc


# 1. Server data is never a place to write: a label that names the manifest ---------------------------
@pytest.mark.parametrize("label", ["manifest.csv", "manifest.json"])
def test_a_server_label_never_makes_a_file_the_manifest_overwrites(scenario, tmp_path, label):
    scenario.add(faults_injected=1)
    df = pd.DataFrame({"prompt": ["a"], "caption": ["the server's text"]})
    df.attrs["lamina"] = {"outputs": [{"column": "caption", "label": label, "type": "text"}]}
    saved = gallery.download(df, pattern=f"{tmp_path}/{{label}}")
    path = Path(saved.loc[0, "caption_local_path"])
    assert path.read_text(encoding="utf-8") == "the server's text", f"{path} was overwritten"
    assert (tmp_path / "manifest.csv").read_text(encoding="utf-8").startswith("file,sha256")


# 4. No secret in output: the manifest travels with the files -----------------------------------------
def test_the_download_manifest_records_no_key_a_teammate_put_in_the_inputs(scenario, tmp_path):
    scenario.add(faults_injected=1)
    key = "lma_" + "teammatesKey0123456789abcdef"
    df = pd.DataFrame({"prompt": [f"use {key} please"], "caption": ["text"]})
    df.attrs["lamina"] = {"outputs": [{"column": "caption", "label": "caption", "type": "text"}],
                          "columns": {"prompt": "prompt"},
                          "constants": {"authorization": "Basic dXNlcjpwYXNz", "token": key}}
    gallery.download(df, pattern=f"{tmp_path}/{{index}}.{{ext}}")
    for name in ("manifest.csv", "manifest.json"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert "teammatesKey" not in text and "dXNlcjpwYXNz" not in text, f"{name} holds a secret"
        assert "lma_***" in text  # the input is still recorded, masked


# 1. Server data is never a path to read: refined outputs are still server data -----------------------
def test_refined_output_cells_stay_server_data(scenario, client):
    scenario.add(faults_injected=1)
    result = lamina_jupyter.sweep(TEXT_TO_IMAGE, {"Prompt": [f"{uuid.uuid4().hex[:6]} fox"]}, client=client,
                                  progress=False)
    assert isinstance(result["Image"].iloc[0], FromServer)
    refined = result.lamina.refine("warmer light")
    renamed = refined[["Image"]].rename(columns={"Image": "image"})  # attrs now name no such column
    assert refined["Image"].iloc[0] != result["Image"].iloc[0]
    assert isinstance(renamed["image"].iloc[0], FromServer), "a refined output became plain text"


# 1. Server data is never a path to read: a run's output chained into the next app --------------------
def test_a_run_output_naming_a_local_file_is_never_uploaded(scenario, client, emulator, tmp_path):
    scenario.add(faults_injected=1)
    private = tmp_path / "id_rsa"
    private.write_text("PRIVATE KEY MATERIAL", encoding="utf-8")
    hostile = Run.from_json({"id": "run_h", "status": "completed", "outputs": [
        {"id": "o1", "label": "Image", "type": "image", "status": "completed", "value": str(private)}]})
    emulator.reset_stats()
    with pytest.raises(ValidationError, match="came from the Lamina server"):
        client.start(CARTOONIFY, {"Upload": hostile.output("Image").value})
    assert route_count(emulator, "PUT /uploads/{token}") == 0 and emulator.stats["runs_created"] == 0


# 1. ... nor when a result row prefills a form -----------------------------------------------------------
def test_a_form_prefilled_with_server_text_never_reads_it_as_a_path(scenario, client, tmp_path):
    scenario.add(faults_injected=1)
    private = tmp_path / "id_rsa"
    private.write_text("PRIVATE KEY MATERIAL", encoding="utf-8")
    form = Form(client.get_app(CARTOONIFY), client)
    row = pd.Series({"Upload": FromServer(str(private)), "Style": "Ghibli"})
    assert "Upload" in prefill(form, row)
    assert form.validate() is None, "the form would upload a file the server named"
    upload = next(f for f in form.fields if f.param.name == "Upload")
    assert "came from the Lamina server" in upload.message.value
    assert "PRIVATE" not in repr(form.values())


# 4. No secret in output: a server that echoes the key from the new endpoints ---------------------------
ECHOED = "lma_" + "echoedByTheServer0123456789"


@pytest.mark.parametrize("call", ["discover", "usage", "refine", "estimate"])
def test_errors_of_the_new_endpoints_never_show_an_echoed_key(scenario, call):
    scenario.add(faults_injected=1)
    body = {"error": {"code": "BAD_REQUEST", "message": f"key {ECHOED} is not allowed here",
                      "details": [{"field": "authorization", "message": f"Bearer {ECHOED}",
                                   "authorization": f"Bearer {ECHOED}"}]}}
    calls = {"discover": lambda c: c.discover("a beach"), "usage": lambda c: c.usage(),
             "refine": lambda c: c.refine("run_1", "brighter"),
             "estimate": lambda c: c.estimate(TEXT_TO_IMAGE, {"Prompt": "x"})}
    with WireServer(fallback=Respond(400, body)) as wire, \
            Client(api_key=ECHOED, base_url=wire.base_url, max_retries=0) as client, \
            pytest.raises(LaminaError) as caught:
        calls[call](client)
    exc = caught.value
    shown = [str(exc), repr(exc), exc.message, repr(exc.details), "".join(traceback.format_exception(exc))]
    leaked = [s for s in shown if "echoedByTheServer" in s]
    assert not leaked, leaked[0]


def test_reprs_of_the_new_objects_never_show_an_echoed_key(scenario):
    scenario.add(faults_injected=1)
    found = Discovery.from_json({"matches": [{"appId": "a1", "name": ECHOED, "whyMatch": f"you sent {ECHOED}",
                                              "description": ECHOED}],
                                 "intent": {"medium": ECHOED, "summary": ECHOED}})
    version = RunVersion.from_json({"runId": "run_1", "number": 2, "feedback": "brighter", "summary": ECHOED,
                                    "outputs": [{"label": ECHOED, "value": f"https://cdn.example/{ECHOED}"}]})
    shown = {"Discovery": repr(found), "Match": repr(found[0]), "str(Discovery)": str(found),
             "RunVersion": repr(version)}
    leaked = [name for name, text in shown.items() if "echoedByTheServer" in text]
    assert not leaked, f"{leaked} show the key the server echoed"


# 2. The key goes only where the user chose: `%lamina demo` promises the emulator ----------------------
def test_demo_never_sends_a_real_key_found_beside_a_loopback_url(scenario, monkeypatch):
    from lamina_jupyter.notebook import session

    scenario.add(faults_injected=1)
    with WireServer(fallback=Respond(200, {"data": [], "apps": []})) as proxy:
        monkeypatch.setenv("LAMINA_BASE_URL", proxy.base_url)  # e.g. a local proxy to the real API
        monkeypatch.setenv("LAMINA_API_KEY", "lma_" + "realKeyOfTheUser0123456789")
        try:
            session.start_demo()
            assert proxy.requests == [], f"demo sent the user's real key: {proxy.requests}"
            assert session.mode == "demo"
        finally:
            session.reset()
