"""The first hour in a notebook (issue 13, and issue 12's login/whoami part): what a data scientist
meets in a real InteractiveShell, against the emulator."""

from __future__ import annotations

import html
import re
import uuid

import pytest
from IPython.core.error import UsageError


def tag() -> str:
    return uuid.uuid4().hex[:8]


def clean_error(cell, *needles):
    """One UsageError line with the given words, no traceback."""
    assert isinstance(cell.error, UsageError), cell.text()
    assert "Traceback" not in cell.text()
    for needle in needles:
        assert needle in cell.stderr, cell.stderr


@pytest.fixture
def logged_in(emulator, run_cell, monkeypatch):
    """`%lamina login --base-url <emulator>` with the key typed at the (patched) hidden prompt."""
    from lamina_jupyter.notebook import session

    monkeypatch.setattr("getpass.getpass", lambda prompt="": emulator.api_key)
    cell = run_cell(f"%lamina login --base-url {emulator.base_url}")
    assert cell.error is None, cell.text()
    yield session
    session.reset()


# -- 1. the login is visible to Client() ------------------------------------------------------------
def test_plain_client_after_login_uses_the_session_key_and_server(logged_in, emulator, run_cell, shell):
    cell = run_cell("from lamina_jupyter import Client, current_client\n"
                    "with Client() as c:\n    n, url = len(c.list_apps()), c.base_url\n"
                    "same = current_client() is current_client()")
    assert cell.error is None, cell.text()
    assert shell.user_ns["n"] == 5 and shell.user_ns["url"] == emulator.base_url
    assert shell.user_ns["same"] is True


def test_explicit_arguments_still_win_over_the_session(logged_in, run_cell):
    cell = run_cell("from lamina_jupyter import Client\nClient(api_key='lma_other_0123456789', "
                    "base_url='http://127.0.0.1:9').base_url")
    assert cell.error is None and "127.0.0.1:9" in cell.text()


def test_copy_as_code_runs_in_the_logged_in_kernel(logged_in, emulator, run_cell, shell):
    prompt = f"copied {tag()}"
    run_cell('f = %lamina form "Caption Writer"')
    form = shell.user_ns["f"]
    form.fields[0].widget.value = prompt
    form.code_button.click()
    code = html.unescape(re.sub(r"<[^>]+>", "", form.code.value))
    cell = run_cell(code)
    run_cell("client.close()")  # the snippet's own client
    assert cell.error is None, cell.text()
    assert shell.user_ns["run"].status == "completed"
    assert [r for r in emulator.runs() if prompt in str(r["inputs"])]


def test_current_client_is_public_and_says_how_to_log_in(run_cell):
    cell = run_cell("import lamina_jupyter\nlamina_jupyter.current_client()")
    assert "%lamina login" in cell.text() and "%lamina demo" in cell.text()


# -- 12.2: login after demo, whoami ---------------------------------------------------------------
def test_login_after_demo_never_sends_the_typed_key_to_the_emulator(run_cell, monkeypatch):
    from lamina_jupyter.notebook import session

    typed = "lma_typed_" + tag() * 3
    try:
        assert run_cell("%lamina demo").error is None
        demo = session.demo_emulator()
        demo.reset_stats()
        monkeypatch.setattr("getpass.getpass", lambda prompt="": typed)
        cell = run_cell("%lamina login")
        assert demo.stats["requests"] == 0, demo.stats
        assert session.demo_emulator() is None
        assert "401" not in cell.text() and "app.uselamina.ai" in cell.text()  # the real server (no network)
        assert typed not in cell.text()
    finally:
        session.reset()


def test_whoami_shows_a_non_default_server_plainly(logged_in, emulator, run_cell):
    out = run_cell("%lamina whoami").stdout
    assert emulator.base_url in out
    assert "not the default" in out and "https://app.uselamina.ai" in out


# -- 5. interrupting %lamina run --------------------------------------------------------------------
def test_interrupted_run_is_one_line_and_the_view_says_it_stopped_following(session, emulator, run_cell,
                                                                            monkeypatch):
    from lamina_jupyter import Client

    def interrupted(self, run, on_update=None, **kw):
        on_update(run)
        raise KeyboardInterrupt

    monkeypatch.setattr(Client, "wait", interrupted)
    cell = run_cell(f'%lamina run "Caption Writer" Topic="interrupt {tag()}"')
    run_id = emulator.runs()[-1]["run_id"]
    clean_error(cell, f"%lamina status {run_id}", f"%lamina cancel {run_id}")
    assert "KeyboardInterrupt" not in cell.text() and len(cell.stderr.strip().splitlines()) <= 2
    last = cell.bundles[-1]
    assert all("stopped following" in last[kind].lower() for kind in ("text/plain", "text/html"))


# -- 6. messages that say what to do ----------------------------------------------------------------
def test_unquoted_app_name_suggests_quoting(session, run_cell):
    clean_error(run_cell("%lamina run Text to Image Prompt=fox"), 'quote', '"Text to Image"')


@pytest.mark.parametrize("source, needles, absent", [
    ('%lamina run "Text to Image" Style=Neon', ["Prompt=", "add"], ["inputs[", "prompt_text", "?."]),
    ('%lamina run "Text to Image" Promt=fox', ["Prompt="], ["inputs[", "prompt_text", "?."]),
])
def test_missing_or_misspelled_parameter_says_which_key_value_to_add(session, run_cell, source, needles,
                                                                     absent):
    cell = run_cell(source)
    clean_error(cell, *needles)
    for word in absent:
        assert word not in cell.stderr, cell.stderr


def test_option_value_in_another_case_is_accepted(session, emulator, run_cell, shell):
    prompt = f"case {tag()}"
    cell = run_cell(f'r = %lamina run "Text to Image" Prompt="{prompt}" Style=neon "Aspect Ratio"=16:9')
    assert cell.error is None, cell.text()
    sent = [r for r in emulator.runs() if r["run_id"] == shell.user_ns["r"].id][0]
    assert sent["inputs"]["Style"] == "Neon"


def test_status_of_an_unknown_id_says_so_without_python_hints(session, emulator, run_cell):
    cell = run_cell("%lamina status nonsense")
    clean_error(cell, "nonsense", "unknown")
    said = cell.stderr.replace(emulator.base_url, "<server>")  # its random port may read 40437
    assert emulator.base_url in cell.stderr and "client." not in said and "404" not in said


def test_login_base_url_ending_in_v1_says_to_drop_it_before_asking_for_the_key(emulator, run_cell,
                                                                               monkeypatch):
    monkeypatch.setattr("getpass.getpass", lambda prompt="": pytest.fail("must not prompt"))
    cell = run_cell(f"%lamina login --base-url {emulator.base_url}/v1/")
    clean_error(cell, "drop /v1", f"--base-url {emulator.base_url}\n")


# -- 7. a key typed as an argument --------------------------------------------------------------------
def test_key_as_argument_is_never_echoed_and_the_prompt_is_suggested(run_cell, monkeypatch):
    monkeypatch.setattr("getpass.getpass", lambda prompt="": pytest.fail("must not prompt"))
    key = "lma_secret_" + tag() * 3
    for source in (f"%lamina login {key}", f"%lamina login --base-url http://127.0.0.1:9 {key}"):
        cell = run_cell(source)
        clean_error(cell, "saved with the notebook", "hidden prompt")
        assert key not in cell.text() and key[-6:] not in cell.text()
