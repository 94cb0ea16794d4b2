"""Fault matrix D25/D26 (secret hygiene): with the canary key, every surface a key could leak to is
scanned (reprs, errors, Verbose tracebacks, DEBUG logs, widget state, the ledger file, request URLs, a
saved notebook), key shapes are checked, files we write are 0600, and the emulator binds loopback.

The canary is the session emulator's key (tests/conftest.py CANARY_KEY): the conftest also fails any
test whose captured output shows it, so these scans look at what capture cannot see (files, widget
state, objects' reprs) and search encoded forms too.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import signal
import stat
import subprocess
import sys
import traceback
from collections import Counter
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pandas as pd
import psutil
import pytest
from suite import CAPTION_WRITER, TEXT_TO_IMAGE

from lamina_jupyter import (
    AsyncClient,
    AuthenticationError,
    Client,
    ConfigurationError,
    LaminaWarning,
    RunFailedError,
    ValidationError,
    WaitTimeout,
)
from lamina_jupyter.emulator import Emulator

REPO = Path(__file__).resolve().parents[2]
QUICK = dict(latency=0.1, jitter=0.0, failure_rate=0.0, rate_limit=None, check_interval=0.05)


def key_forms(key: str) -> dict[str, str]:
    """The key as it could appear: raw, URL-encoded, base64 (at every alignment), without its prefix."""
    forms = {"raw": key, "url-encoded": quote(key, safe=""), "url-plus": quote_plus(key),
             "no-prefix": key[4:],
             "base64url": base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")}
    for shift in range(3):  # inside a longer base64 blob the key's encoding depends on its offset
        encoded = base64.b64encode(b"\0" * shift + key.encode()).decode()
        forms[f"base64+{shift}"] = encoded[(shift * 4 + 2) // 3 + 1:-4]
    forms["basic-auth-base64"] = base64.b64encode(f"Bearer {key}".encode()).decode()[4:-4]
    return forms


class Surfaces:
    """Counts every text/bytes blob scanned and names (never shows) the ones holding a form of the key."""

    def __init__(self, key: str) -> None:
        self.forms = key_forms(key)
        self.scanned: Counter = Counter()
        self.leaks: list[str] = []

    def scan(self, surface: str, blob: str | bytes) -> None:
        text = blob.decode("latin-1") if isinstance(blob, bytes) else str(blob)
        self.scanned[surface] += 1
        self.leaks += [f"{surface}: {name}" for name, form in self.forms.items() if form in text]

    def scan_object(self, surface: str, obj: object) -> None:
        texts = [repr(obj), str(obj), f"{obj}"]
        for name in ("_repr_html_", "_repr_markdown_", "_repr_pretty_"):
            if name == "_repr_pretty_" or not callable(getattr(obj, name, None)):
                continue
            texts.append(str(getattr(obj, name)()))
        if callable(getattr(obj, "_repr_mimebundle_", None)):
            texts.append(json.dumps(obj._repr_mimebundle_(), default=str))  # type: ignore[attr-defined]
        for text in texts:
            self.scan(surface, text)

    def scan_error(self, surface: str, exc: BaseException) -> None:
        self.scan_object(surface, exc)
        self.scan(surface, "".join(traceback.format_exception(exc)))
        tb = exc.__traceback__  # the locals of every frame but this test's own (which holds the key)
        while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
            tb = tb.tb_next
        verbose = traceback.TracebackException(type(exc), exc, tb, capture_locals=True)
        self.scan(surface, "".join(verbose.format()))

    def record(self, scenario) -> None:
        scenario.add(surfaces_scanned=sum(self.scanned.values()), key_leaks=len(self.leaks))
        assert not self.leaks, self.leaks


class SeenURLs:
    """ASGI wrapper around the emulator's app: every request target it receives."""

    def __init__(self, app) -> None:
        self.app, self.urls = app, []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            self.urls.append(scope.get("raw_path", b"").decode("latin-1") + "?" +
                             scope["query_string"].decode("latin-1"))
        await self.app(scope, receive, send)


class Canary(str):
    """The canary key. A failing test's report prints its arguments, so this str's repr is masked."""

    def __repr__(self) -> str:
        return "'lma_CANARY_…'"


@pytest.fixture
def canary(emulator_session) -> str:
    return Canary(emulator_session.api_key)


@pytest.fixture
def private_emulator(canary):
    """An emulator with the canary key whose every request URL is recorded."""
    emu = Emulator(api_key=canary, **QUICK)  # type: ignore[arg-type]
    emu.app = SeenURLs(emu.app)  # type: ignore[assignment]
    with emu:
        yield emu


async def _submit_form(form) -> None:
    form.run_button.click()
    await asyncio.wait_for(form.finished(), 30)


def test_canary_surfaces_scan(scenario, canary, private_emulator, caplog, tmp_path, monkeypatch):
    """A real run, a failed run, a WaitTimeout, API errors, a form, a batch with its ledger, DEBUG logs,
    every public object and every request URL: no form of the key anywhere."""
    from ipywidgets.embed import embed_data
    from ipywidgets.widgets.widget import _instances

    from lamina_jupyter import form, run_dataframe
    from lamina_jupyter.core.webhooks import Deduper, Verifier
    from lamina_jupyter.notebook import session

    for name in ("lamina_jupyter", "httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    surfaces, emu = Surfaces(canary), private_emulator
    errors: list[BaseException] = []
    with Client(api_key=canary + "\n", base_url=emu.base_url) as client:
        run = client.run(TEXT_TO_IMAGE, {"Prompt": "a canary in a coal mine"}, timeout=30)
        app = client.get_app(TEXT_TO_IMAGE)
        objects = {"client": client, "settings": client.settings, "secret": client.settings.api_key,
                   "run": run, "app": app, "parameter": app.parameters[0], "output": run.outputs[0],
                   "estimate": client.estimate(TEXT_TO_IMAGE, {"Prompt": "x"}), "verifier": Verifier(client),
                   "deduper": Deduper(), "governor": client.governor, "emulator": emu,
                   "progress": run.progress,
                   "async client": AsyncClient(api_key=canary, base_url=emu.base_url)}
        for prompt, kwargs in (("canary #fail", {}), ("canary #stuck", {"timeout": 0.4})):
            with pytest.raises((RunFailedError, WaitTimeout)) as info:
                client.run(TEXT_TO_IMAGE, {"Prompt": prompt}, **kwargs)
            errors.append(info.value)
        client.cancel(errors[-1].run_id)  # type: ignore[attr-defined]
        with pytest.raises(ValidationError) as invalid:
            client.start(TEXT_TO_IMAGE, {"Prompt": 5, "Nope": canary[4:10]})
        errors.append(invalid.value)
        batch = pd.DataFrame({"prompt": ["canary one", "canary two #fail"]})
        ledger = tmp_path / "ledger.sqlite"
        result = run_dataframe(batch, TEXT_TO_IMAGE, client=client, journal=ledger, progress=False)
        objects |= {"batch": result.lamina, "report": result.lamina.report}
        surfaces.scan("batch frame", result.to_json())
        session.set_client(client, "test")
        try:
            f = form(CAPTION_WRITER)
            next(x for x in f.fields if x.param.name == "Topic").set("canary form")
            asyncio.run(_submit_form(f))
            f.code_button.click()
            objects["form"] = f
            states = [w.get_state() for w in list(_instances.values())]
            surfaces.scan("widget state", json.dumps(states, default=str))
            surfaces.scan("widget embed", json.dumps(embed_data(views=[f]), default=str))
        finally:
            session._client = None  # the test owns this client; reset() would close it
            session.reset()
    with Client(api_key=canary[:-1] + "X", base_url=emu.base_url) as wrong:  # a wrong key variant
        with pytest.raises(AuthenticationError) as auth:
            wrong.list_apps()
        errors.append(auth.value)
    with Client(api_key=canary, base_url="http://127.0.0.1:9", max_retries=0) as down:
        with pytest.raises(Exception) as refused:  # noqa: PT011 - whichever type, it must be clean
            down.list_apps()
        errors.append(refused.value)
    for surface, obj in objects.items():
        surfaces.scan_object(surface, obj)
    asyncio.run(objects["async client"].aclose())
    for exc in errors:
        surfaces.scan_error(type(exc).__name__, exc)
    ledger_files = [p for p in tmp_path.rglob("ledger.sqlite*") if p.is_file()]
    for path in ledger_files:
        surfaces.scan(f"ledger file {path.name}", path.read_bytes())
    for record in caplog.records:
        surfaces.scan("DEBUG log", f"{record.getMessage()} {record.args!r}")
    for url in emu.app.urls:  # type: ignore[attr-defined]
        surfaces.scan("request URL", url)
    control = Surfaces(canary)  # the scanner itself: a known leaky repr and a base64 blob are caught
    control.scan("httpx headers", repr(httpx.Headers({"x-api-key": canary})))
    control.scan("blob", base64.b64encode(b"Bearer " + canary.encode() + b"!"))
    assert control.leaks[0] == "httpx headers: raw" and "blob: base64+1" in control.leaks
    assert len(errors) == 5 and ledger_files and len(caplog.records) > 20 and len(emu.app.urls) > 10  # type: ignore[attr-defined]
    surfaces.record(scenario)


VERBOSE_CELLS = [
    ("run failure", f'c.run("{TEXT_TO_IMAGE}", {{"Prompt": "verbose #fail"}}, timeout=30)', "RunFailedError"),
    ("wait timeout", f'c.run("{TEXT_TO_IMAGE}", {{"Prompt": "verbose #stuck"}}, timeout=0.4)', "WaitTimeout"),
    ("validation", f'c.start("{TEXT_TO_IMAGE}", {{"Prompt": 5}})', "ValidationError"),
    ("bad base url", 'Client(base_url="ftp://nowhere")', "ConfigurationError"),
    ("refused", 'Client(base_url="http://127.0.0.1:9", max_retries=0).list_apps()', "LaminaConnectionError"),
    ("wrong key", "Client(api_key=wrong, base_url=c.base_url).list_apps()", "AuthenticationError"),
    ("magic", '%lamina run "Text to Image" Prompt="verbose magic #fail"', "UsageError"),
]


def test_verbose_tracebacks_in_a_real_shell_never_show_the_key(scenario, canary, emulator, monkeypatch):
    """%xmode Verbose prints every local and argument of every frame: ours hold the key in a Secret."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    monkeypatch.setenv("LAMINA_API_KEY", canary)
    monkeypatch.setenv("LAMINA_BASE_URL", emulator.base_url)
    shell = InteractiveShell.instance(colors="nocolor")
    if "lamina_jupyter" not in shell.extension_manager.loaded:
        shell.run_line_magic("load_ext", "lamina_jupyter")
    surfaces, texts = Surfaces(canary), []
    shell.run_line_magic("xmode", "Verbose")
    try:
        wrong = canary[:-1] + "Y"
        setup = shell.run_cell(f"from lamina_jupyter import Client\nc = Client()\nwrong = {wrong!r}")
        assert setup.success
        for name, source, expected in VERBOSE_CELLS:
            with capture_output() as out:
                result = shell.run_cell(source)
            text = out.stdout + out.stderr + "".join(str(o.data) for o in out.outputs)
            assert not result.success and expected in text, (name, text[-300:])
            surfaces.scan(f"Verbose traceback: {name}", text)
            texts.append(text)
        # Verbose really printed our frames' locals, with the key masked
        assert "self = <Client base_url=" in texts[0] and "api_key = Secret('lma_…" in texts[3]
    finally:
        shell.run_cell("c.close()")
        shell.run_line_magic("xmode", "Context")
        shell.reset(new_session=False)
        from lamina_jupyter.notebook import session
        session.reset()
    surfaces.record(scenario)


@pytest.mark.slow
def test_quickstart_and_login_in_a_saved_notebook_hold_no_key(scenario, canary, emulator, monkeypatch,
                                                               tmp_path):
    """notebooks/quickstart.ipynb plus `%lamina login` (hidden prompt), a wrong-key login and a form,
    executed by nbclient against the canary-keyed emulator, saved with widget state, scanned as JSON."""
    import nbclient
    import nbformat

    monkeypatch.setenv("LAMINA_API_KEY", canary)
    monkeypatch.setenv("LAMINA_BASE_URL", emulator.base_url)
    monkeypatch.setenv("LAMINA_DEMO_URL", emulator.base_url)  # as make demo exports: %lamina demo reuses it
    nb = nbformat.read(REPO / "notebooks" / "quickstart.ipynb", as_version=4)
    extra = [
        # The user types the key at the hidden prompt (ipykernel re-installs getpass before every cell).
        'import getpass, os\ngetpass.getpass = lambda prompt="": os.environ["LAMINA_API_KEY"] + "\\n"\n'
        f"%lamina login --base-url {emulator.base_url}",
        "%lamina whoami",
        f'%lamina form "{CAPTION_WRITER}"',
        'getpass.getpass = lambda prompt="": "lma_wrong_0123456789abcdef"\n'
        f"%lamina login --base-url {emulator.base_url}",
    ]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in extra]
    nb.cells[-1].metadata["tags"] = ["raises-exception"]
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    saved = tmp_path / "quickstart-canary.ipynb"
    nbformat.write(nb, saved)
    text = saved.read_text(encoding="utf-8")
    outputs = {o.get("output_type") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])}
    login, whoami, wrong = (nb.cells[i].outputs for i in (-4, -3, -1))
    assert "Logged in to" in login[0]["text"] and "key:      lma_…" in whoami[0]["text"]
    assert "UsageError: Lamina API 401" in wrong[0]["text"] and {"display_data", "stream"} <= outputs
    assert "application/vnd.jupyter.widget-state+json" in nb.metadata.get("widgets", {})
    surfaces = Surfaces(canary)
    surfaces.scan("saved notebook", text)
    surfaces.scan("saved notebook (unescaped)", json.dumps(json.loads(text), ensure_ascii=False))
    surfaces.record(scenario)


# -- D26: key shapes and files on disk -----------------------------------------------------------------
def _config(home: Path, key: str, mode: int) -> Path:
    folder = home / ".lamina"
    folder.mkdir(exist_ok=True)
    path = folder / "config.json"
    path.write_text(json.dumps({"version": 1, "credentials": {"kind": "apikey", "apiKey": key}}))
    path.chmod(mode)
    return path


@pytest.mark.parametrize("where", ["argument", "environment"])
def test_other_companys_key_is_refused_naming_the_prefix_and_company(scenario, where, monkeypatch):
    secret = "lamina_live_" + "S3cr3tPartOfTheKey_" + os.urandom(6).hex()
    if where == "environment":
        monkeypatch.setenv("LAMINA_API_KEY", secret)
    with pytest.raises(ConfigurationError) as info:
        Client(api_key=secret if where == "argument" else None, base_url="http://127.0.0.1:9")
    surfaces = Surfaces(secret)
    surfaces.scan_error("lamina_live error", info.value)
    message = str(info.value)
    for part in ("'lamina_'", "lamina-sdk", "Lamina Labs", "'lma_'"):
        assert part in message
    surfaces.record(scenario)


@pytest.mark.parametrize("key", ["", "   ", "\n"])
def test_empty_key_is_a_configuration_error(scenario, key, monkeypatch):
    monkeypatch.setenv("LAMINA_API_KEY", key)
    for attempt in (lambda: Client(api_key=key), lambda: Client()):
        with pytest.raises(ConfigurationError, match="No Lamina API key found"):
            attempt()


@pytest.mark.parametrize("where", ["argument", "environment", ".env", "config"])
def test_trailing_newline_is_stripped_and_the_key_works(scenario, where, canary, emulator, monkeypatch,
                                                        tmp_path):
    pasted = canary + "\r\n"
    if where == "environment":
        monkeypatch.setenv("LAMINA_API_KEY", pasted)
    elif where == ".env":
        (tmp_path / ".env").write_text(f"LAMINA_API_KEY={pasted}")
    elif where == "config":
        _config(tmp_path / "home", pasted, 0o600)
    with Client(api_key=pasted if where == "argument" else None, base_url=emulator.base_url) as client:
        assert client.settings.api_key.reveal() == canary and client.list_apps(limit=1)
        assert (client.settings.key_source == "argument") == (where == "argument")


def test_loose_config_file_warns_and_files_we_write_are_0600(scenario, canary, client, tmp_path):
    path = _config(tmp_path / "home", canary, 0o644)
    with pytest.warns(LaminaWarning, match="chmod 600") as record:
        Client(base_url="http://127.0.0.1:9").close()
    surfaces = Surfaces(canary)
    surfaces.scan("config warning", str(record[0].message))
    path.chmod(0o600)
    Client(base_url="http://127.0.0.1:9").close()  # a private file: no warning (warnings are errors here)
    from lamina_jupyter import run_dataframe

    old = os.umask(0)  # the mode must not depend on the user's umask
    try:
        run_dataframe(pd.DataFrame({"prompt": ["private file"]}), TEXT_TO_IMAGE, client=client,
                      journal=tmp_path / "private" / "runs.sqlite", progress=False)
    finally:
        os.umask(old)
    written = [p for p in (tmp_path / "private").iterdir() if p.is_file()]
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in written}
    for p in written:
        surfaces.scan(f"written file {p.name}", p.read_bytes())
    assert written and set(modes.values()) == {0o600}, modes
    surfaces.record(scenario)


# -- the emulator listens on loopback only -------------------------------------------------------------
def _listening(pid: int, port: int) -> set[str]:
    return {c.laddr.ip for c in psutil.Process(pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port}


def test_emulator_binds_loopback_by_default(scenario):
    with Emulator(**QUICK) as emu:  # type: ignore[arg-type]
        assert _listening(os.getpid(), emu.port) == {"127.0.0.1"}
    command = [sys.executable, "-m", "lamina_jupyter.emulator", "--port", "0", "--no-rate-limit"]
    cli = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = cli.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("Lamina emulator listening on http://127.0.0.1:"), line
        port = int(line.rsplit(":", 1)[1])
        assert _listening(cli.pid, port) == {"127.0.0.1"}
    finally:
        cli.send_signal(signal.SIGTERM)
        cli.communicate(timeout=15)


# -- issue 12.6: the key inside error text, details and the kept request ---------------------------------
@pytest.mark.parametrize("stray", ["\n", "\r", "\x00", "\x1b", "\t", "é"],
                         ids=["newline", "carriage-return", "nul", "escape", "tab", "non-ascii"])
def test_a_key_with_a_control_character_is_refused_before_any_request(scenario, canary, stray):
    """h11 quoted such a header in full ("Illegal header value b'Bearer lma_…'"), and the key-shaped
    redaction stopped at the escaped character, leaving the rest of the key in the message."""
    from wire_faults import Respond, WireServer

    head, tail = canary[:15], canary[15:]
    key = head + stray + tail
    with WireServer(fallback=Respond(200, {"data": []})) as wire, pytest.raises(ConfigurationError) as info:
        Client(api_key=key, base_url=wire.base_url, max_retries=0).list_apps()
    requests = list(wire.requests)
    assert requests == [] and "copy" in str(info.value).lower()
    for fragment in (head, tail):
        surfaces = Surfaces(fragment)
        surfaces.scan_error("key with a stray character", info.value)
        surfaces.record(scenario)


def test_header_text_is_redacted_with_escapes_and_quotes():
    """What h11 and friends print about a header: the whole Bearer value goes, however it is quoted."""
    from lamina_jupyter.core.redact import redact

    for text in ("Illegal header value b'Bearer lma_CANARY_abcd\\nefgh0123456789'",
                 'Illegal header value b"Bearer lma_\\x00efgh0123456789"',
                 "authorization: Bearer efgh0123456789"):
        assert "efgh0123456789" not in redact(text), text


ANSI = "\x1b[2J\x1b[31mred\x1b[0m \x1b]8;;https://evil.example\x07click\x1b]8;;\x07 \x9b31m\x07\x08"


def test_error_details_and_messages_are_masked_and_free_of_terminal_codes(scenario, canary):
    """A server that echoes the request (Authorization included) into `details`, and paints its message
    with ANSI escapes: neither the key nor a control sequence may reach the exception."""
    from wire_faults import Respond, WireServer

    echo = {"error": f"bad request {ANSI}", "code": "VALIDATION_ERROR",
            "details": {"headers": {"Authorization": f"Bearer {canary}", "X-Api-Key": canary},
                        "errors": [{"field": "Prompt", "message": f"echo {ANSI} token={canary}"}],
                        "deep": [[[{"authorization": canary[4:]}]]]}}
    with WireServer(fallback=Respond(400, echo)) as wire, \
            Client(api_key=canary, base_url=wire.base_url, max_retries=0) as client, \
            pytest.raises(ValidationError) as info:
        client.list_apps()
    err = info.value
    surfaces = Surfaces(canary)  # not scan_error: Verbose locals of protocol.send still hold the raw body
    surfaces.scan_object("echoing server", err)
    surfaces.scan("echoing server traceback", "".join(traceback.format_exception(err)))
    surfaces.scan("error details", json.dumps(err.details))
    surfaces.record(scenario)
    text = str(err)
    assert "red" in text and "click" in text and "token=" in text  # the words stay, the codes go
    assert not any(ch in text for ch in "\x1b\x07\x08\x9b"), repr(text)
    assert err.details["headers"]["Authorization"] != f"Bearer {canary}"


def test_the_request_kept_on_transport_errors_has_no_key(scenario, canary):
    """err.request is for debugging (method, URL); its Authorization header must be masked."""
    from wire_faults import RST, WireServer

    surfaces = Surfaces(canary)
    with WireServer(fallback=RST) as wire, \
            Client(api_key=canary, base_url=wire.base_url, max_retries=0) as c, \
            pytest.raises(Exception) as reset:  # noqa: PT011 - whichever TransportError, it must be clean
        c.list_apps()
    with Client(api_key=canary, base_url="http://127.0.0.1:9", max_retries=0) as down, \
            pytest.raises(Exception) as refused:  # noqa: PT011
        down.list_apps()
    for info in (reset, refused):
        err = info.value
        assert err.request is not None and err.request.url.path == "/v1/apps"
        surfaces.scan_error(type(err).__name__, err)
        surfaces.scan("err.request headers", json.dumps(dict(err.request.headers)))
        surfaces.scan("err.request", repr(vars(err.request)))
    surfaces.record(scenario)
