"""%lamina / %%lamina in a real IPython InteractiveShell against the emulator."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from IPython.core.error import UsageError
from suite import CAPTION_WRITER, TEXT_TO_IMAGE

APP_NAMES = ["Text to Image", "Cartoonify!", "Product Shot Set", "Caption Writer", "Teaser Clip"]


def tag() -> str:
    return uuid.uuid4().hex[:8]


def assert_clean_usage_error(cell, *needles):
    """One UsageError with the given words, and no traceback."""
    assert isinstance(cell.error, UsageError), cell.text()
    assert "UsageError" in cell.stderr
    assert "Traceback" not in cell.text()
    for needle in needles:
        assert needle in cell.stderr, cell.stderr


def test_extension_registers_line_and_cell_magic(shell):
    magics = shell.magics_manager.magics
    assert "lamina" in magics["line"] and "lamina" in magics["cell"]


def test_load_ext_alone_enables_the_dataframe_accessor():
    """In a fresh interpreter, `%load_ext lamina_jupyter` is all it takes for `df.lamina.run`."""
    code = (
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "import pandas as pd\n"
        "assert not hasattr(pd.DataFrame(), 'lamina')\n"
        "InteractiveShell.instance().run_line_magic('load_ext', 'lamina_jupyter')\n"
        "print(callable(pd.DataFrame({'p': ['x']}).lamina.run))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr[-2000:]


def test_apps_table_lists_every_app_with_parameters(session, run_cell, shell):
    cell = run_cell("t = %lamina apps")
    assert cell.error is None, cell.text()
    bundle = shell.display_formatter.format(shell.user_ns["t"])[0]
    for name in APP_NAMES:
        assert name in bundle["text/plain"] and name in bundle["text/html"]
    assert "Prompt*" in bundle["text/plain"]  # required, no default
    assert TEXT_TO_IMAGE in bundle["text/html"]


def test_apps_search(session, run_cell, shell):
    run_cell("t = %lamina apps Caption")
    text = shell.display_formatter.format(shell.user_ns["t"])[0]["text/plain"]
    assert "Caption Writer" in text and "Cartoonify!" not in text


def test_form_by_name(session, run_cell, shell):
    from lamina_jupyter.notebook.form import Form

    cell = run_cell('f = %lamina form "Text to Image"')
    assert cell.error is None, cell.text()
    f = shell.user_ns["f"]
    assert isinstance(f, Form) and [x.param.name for x in f.fields] == ["Prompt", "Style", "Aspect Ratio"]


def test_run_line_returns_run_sends_exact_inputs_and_shows_image(session, emulator, run_cell, shell):
    prompt = f"a red fox {tag()}"
    cell = run_cell(f'r = %lamina run "Text to Image" Prompt="{prompt}" "Aspect Ratio"=16:9')
    assert cell.error is None, cell.text()
    run = shell.user_ns["r"]
    assert run.status == "completed"
    sent = [r for r in emulator.runs() if r["run_id"] == run.id]
    assert sent and sent[0]["inputs"] == {"Prompt": prompt, "Aspect Ratio": "16:9"}
    statuses = [b["text/plain"] for b in cell.bundles]
    assert any("queued" in s or "running" in s for s in statuses[:-1]), statuses  # live progress
    final = cell.bundles[-1]["text/html"]
    assert "data:image/jpeg;base64," in final and "completed" in final


def test_run_as_last_expression_is_not_shown_twice(session, run_cell):
    cell = run_cell(f'%lamina run "Caption Writer" Topic="tides {tag()}"')
    assert cell.error is None, cell.text()
    assert "shown above" in cell.stdout  # the Out[] echo is one line; the outputs were displayed once


def test_cell_magic_key_value_lines_with_variables(session, emulator, run_cell, shell):
    topic = f"autumn {tag()}"
    shell.user_ns["topic"] = topic
    cell = run_cell('%%lamina run "Caption Writer"\n# a comment\nTopic: about {topic}\nTone: Poetic\n')
    assert cell.error is None, cell.text()
    assert emulator.runs()[-1]["inputs"] == {"Topic": f"about {topic}", "Tone": "Poetic"}


def test_cell_magic_json_body_and_line_pairs(session, emulator, run_cell, shell):
    shell.user_ns["p"] = f"json {tag()}"
    cell = run_cell('%%lamina run "Text to Image" Style=Neon\n{"Prompt": "{p}", "Aspect Ratio": "3:4"}')
    assert cell.error is None, cell.text()
    expected = {"Prompt": shell.user_ns["p"], "Aspect Ratio": "3:4", "Style": "Neon"}
    assert emulator.runs()[-1]["inputs"] == expected


def test_whole_variable_passes_the_object_so_images_upload(session, emulator, run_cell, shell):
    from PIL import Image

    shell.user_ns["photo"] = Image.new("RGB", (64, 64), "orange")
    before = emulator.stats["uploads"]
    cell = run_cell('%%lamina run "Cartoonify!"\nUpload: {photo}\nStyle: Simpsons')
    assert cell.error is None, cell.text()
    assert emulator.stats["uploads"] == before + 1
    sent = emulator.runs()[-1]["inputs"]
    assert sent["Style"] == "Simpsons" and sent["Upload"].startswith(emulator.base_url)


def test_status_and_cancel(session, client, run_cell, shell):
    run = client.start(TEXT_TO_IMAGE, {"Prompt": f"slow #stuck {tag()}"})
    cell = run_cell(f"s = %lamina status {run.id}")
    assert cell.error is None and shell.user_ns["s"].status in ("queued", "running")
    cell = run_cell(f"c = %lamina cancel {run.id}")
    assert cell.error is None, cell.text()
    assert shell.user_ns["c"].status == "cancelled" and "cancelled" in cell.stdout
    assert client.get_run(run.id).status == "cancelled"


def test_run_failure_is_one_line_with_run_id_and_next_step(session, run_cell):
    cell = run_cell(f'%lamina run "Text to Image" Prompt="storm #fail {tag()}"')
    assert_clean_usage_error(cell, "failed", "%lamina status")
    assert "failed" in cell.bundles[-1]["text/html"]  # the failed run stays visible


@pytest.mark.parametrize("source, needles", [
    ('%lamina run "No Such App" Prompt=x', ["No app with the id or exact name"]),
    ('%lamina run "Text to Image" Prompt=x "Aspect Ratio"=16x9', ["invalid option", "16:9"]),
    ('%lamina run "Text to Image" Style=Neon', ["required"]),
    ("%lamina status 00000000-0000-0000-0000-000000000000", ["unknown run id"]),
])
def test_lamina_errors_become_one_clean_line(session, run_cell, source, needles):
    assert_clean_usage_error(run_cell(source), *needles)


@pytest.mark.parametrize("source, needles", [
    ("%lamina frobnicate", ["unknown subcommand", "%lamina apps"]),
    ("%lamina run", ["which app", "Usage: %lamina run"]),
    ('%lamina run "Text to Image" Prompt', ["is not Key=value", "Usage: %lamina run"]),
    ('%lamina run "Text to Image" Prompt="unclosed', ["check the quotes"]),
    ("%lamina status", ["exactly one run id", "Usage: %lamina status"]),
    ("%lamina cancel a b", ["exactly one run id", "Usage: %lamina cancel"]),
    ("%lamina form", ["exactly one app", "Usage: %lamina form"]),
    ("%lamina apps a b", ["at most one search word"]),
    ("%lamina whoami now", ["no arguments"]),
    ("%lamina login --user x", ["unknown option", "Usage: %lamina login"]),
    ("%%lamina apps\nbody", ["only `%%lamina run` takes a cell body"]),
    ('%%lamina run "Text to Image"\nPrompt: {undefined_name}', ["{undefined_name} is not defined"]),
    ('%%lamina run "Text to Image"\njust words', ["is not `Key: value`"]),
    ('%%lamina run "Text to Image"\n{"Prompt": ', ["not valid"]),
])
def test_bad_usage_shows_that_subcommands_help(session, run_cell, source, needles):
    assert_clean_usage_error(run_cell(source), *needles)


def test_help(run_cell):
    cell = run_cell("%lamina help")
    for sub in ("apps", "form", "run", "status", "cancel", "whoami", "login", "demo"):
        assert f"%lamina {sub}" in cell.stdout
    assert run_cell("%lamina").stdout == cell.stdout


def test_no_key_says_login_or_demo(run_cell):
    cell = run_cell("%lamina apps")
    assert_clean_usage_error(cell, "No Lamina API key found", "%lamina login", "%lamina demo")


def test_whoami_masks_the_key(session, emulator, run_cell):
    cell = run_cell("%lamina whoami")
    assert emulator.base_url in cell.stdout and "v1" in cell.stdout
    assert emulator.api_key[-4:] in cell.stdout and emulator.api_key not in cell.text()


def test_login_key_never_shown_stored_or_echoed(emulator, run_cell, shell, monkeypatch):
    from lamina_jupyter.notebook import session

    prompts = []
    key_typed = emulator.api_key + "\n"
    monkeypatch.setattr("getpass.getpass", lambda prompt="": prompts.append(prompt) or key_typed)
    try:
        cells = [run_cell(f"%lamina login --base-url {emulator.base_url}"), run_cell("%lamina whoami"),
                 run_cell(f'r = %lamina run "Caption Writer" Topic="keys {tag()}"'), run_cell("%whos")]
        assert all(c.error is None for c in cells), [c.text() for c in cells]
        assert prompts and "hidden" in prompts[0]
        assert "Logged in" in cells[0].stdout and "%lamina login" in cells[1].stdout
        for cell in cells:
            assert emulator.api_key not in cell.text()
        assert not [v for v in shell.user_ns.values() if emulator.api_key in repr(v)]
        assert emulator.api_key not in "\n".join(shell.history_manager.input_hist_raw)
        assert session.current_client().base_url == emulator.base_url
    finally:
        session.reset()


def test_login_wrong_or_empty_key(emulator, run_cell, monkeypatch):
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "lma_wrong_key_0123456789")
    cell = run_cell(f"%lamina login --base-url={emulator.base_url}")
    assert_clean_usage_error(cell, "401")
    assert "lma_wrong_key_0123456789" not in cell.text()
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "  ")
    assert_clean_usage_error(run_cell("%lamina login"), "No key entered")


def test_demo_starts_an_emulator_and_plain_client_reaches_it(run_cell, shell):
    from lamina_jupyter import Client
    from lamina_jupyter.notebook import session

    try:
        cell = run_cell("%lamina demo")
        assert cell.error is None, cell.text()
        shown = "\n".join(str(b) for b in cell.bundles) + cell.stdout
        assert "Demo mode" in shown and "nothing is billed" in shown
        emu = session.demo_emulator()
        assert emu is not None and session.current_client().base_url == emu.base_url
        with Client() as plain:  # the kernel's environment points at the demo emulator
            assert len(plain.list_apps()) == 5
        assert "demo" in run_cell("%lamina whoami").stdout
    finally:
        session.reset()
    assert session.demo_emulator() is None


def test_demo_reuses_the_emulator_from_make_demo(emulator, run_cell, monkeypatch):
    from lamina_jupyter.notebook import session

    monkeypatch.setenv("LAMINA_BASE_URL", emulator.base_url)
    monkeypatch.setenv("LAMINA_API_KEY", emulator.api_key)
    monkeypatch.setenv("LAMINA_DEMO_URL", emulator.base_url)  # what make demo exports beside them
    try:
        cell = run_cell("%lamina demo")
        assert cell.error is None, cell.text()
        assert "make demo" in cell.stdout + str(cell.bundles)
        assert session.demo_emulator() is None
        assert session.current_client().base_url == emulator.base_url
    finally:
        session.reset()


def test_upload_from_local_path(session, emulator, run_cell, tmp_path):
    from PIL import Image

    path = tmp_path / "me.png"
    Image.new("RGB", (32, 32), "blue").save(path)
    cell = run_cell(f'%lamina run "Cartoonify!" Upload="{path}"')
    assert cell.error is None, cell.text()
    assert emulator.runs()[-1]["inputs"]["Upload"].startswith(emulator.base_url)


def test_interrupt_leaves_the_run_going_and_says_how_to_find_it(session, emulator, client, run_cell,
                                                                  monkeypatch):
    from lamina_jupyter import Client

    def interrupted(self, run, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(Client, "wait", interrupted)
    cell = run_cell(f'%lamina run "Caption Writer" Topic="interrupt {tag()}"')
    run_id = emulator.runs()[-1]["run_id"]
    assert_clean_usage_error(cell, f"%lamina status {run_id}", f"%lamina cancel {run_id}")
    assert client.get_run(run_id).status != "cancelled"


def test_caption_text_output_is_shown_escaped(session, run_cell, shell):
    run_cell(f'r = %lamina run {CAPTION_WRITER} Topic="<b>bold</b> {tag()}"')
    html = run_cell("display(r)").bundles[0]["text/html"]
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html


def test_login_after_demo_leaves_demo_mode(emulator, run_cell, monkeypatch):
    import os

    from lamina_jupyter.notebook import session

    try:
        run_cell("%lamina demo")
        assert session.demo_emulator() is not None and "LAMINA_API_KEY" in os.environ
        monkeypatch.setattr("getpass.getpass", lambda prompt="": emulator.api_key)
        cell = run_cell(f"%lamina login --base-url {emulator.base_url}")
        assert cell.error is None, cell.text()
        assert session.demo_emulator() is None and "LAMINA_API_KEY" not in os.environ
        assert "demo" not in run_cell("%lamina whoami").stdout
    finally:
        session.reset()
