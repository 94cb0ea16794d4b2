"""The real thing: JupyterLab 4 and Notebook 7 in headless Chromium run the quickstart and the batch
notebook: every cell runs, widgets render, images load, and a user fills the form, clicks Run and the
generated image appears (decoded by the browser).

Recipe and pitfalls: /work/shared/browser-testing.md. Skips only when Chromium is missing, saying how to
install it; under CI a missing Chromium fails instead (test_nb_browser_rule.py checks the rule)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage"]
TOKEN = "lamina-browser-test"
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
FRONT_ENDS = {"jupyterlab": ("lab", "doc/tree/{}"), "notebook7": ("notebook", "notebooks/{}")}
BAD = ["Error displaying widget", "model not found", "Failed to load model"]

pytestmark = [pytest.mark.browser, pytest.mark.slow]
NOT_CI = ("", "0", "false", "no", "off")


def chromium_verdict(chromium: str, env: Mapping[str, str]) -> tuple[str, str] | None:
    """None when the test can run, else ("skip" | "fail", why and how to fix). In CI `make test`
    installs Chromium, so a missing one is a failure there, never a silent skip."""
    if os.path.isfile(chromium) and os.access(chromium, os.X_OK):
        return None
    why = (f"no Chromium executable at {chromium}: run `make browser` (as root) or "
           f"`apt-get install -y chromium`, or set CHROMIUM=/path/to/chromium")
    if env.get("CI", "").strip().lower() not in NOT_CI:
        return "fail", f"CI is set, so the browser test must run: {why}"
    return "skip", why


@pytest.fixture(scope="module", autouse=True)
def chromium_present() -> None:
    verdict = chromium_verdict(CHROMIUM, os.environ)
    if verdict is not None:
        action, why = verdict
        (pytest.fail if action == "fail" else pytest.skip)(why)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the Jupyter server exited early (rc={proc.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(url)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server only (it shuts its kernels down), then SIGKILL what is left of its group."""
    if proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(20)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(5)


@pytest.fixture(scope="module", params=sorted(FRONT_ENDS))
def server(request, tmp_path_factory):
    """A real `jupyter lab` or `jupyter notebook` (Notebook 7) serving copies of the shipped notebooks:
    yields (base URL, URL path template of an open notebook)."""
    command, url_path = FRONT_ENDS[request.param]
    base = tmp_path_factory.mktemp(command)
    root = base / "root"
    shutil.copytree(NOTEBOOKS, root)
    settings = base / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")}
    env.update(JUPYTER_CONFIG_DIR=str(base / "config"), JUPYTER_RUNTIME_DIR=str(base / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(base / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(base / "ws"),
               PYDEVD_DISABLE_FILE_VALIDATION="1", HOME=str(base))
    port = _free_port()
    cmd = [str(Path(sys.executable).parent / "jupyter"), command, "--no-browser", "--allow-root",
           "--ip=127.0.0.1", f"--port={port}", f"--ServerApp.token={TOKEN}", f"--ServerApp.root_dir={root}"]
    if command == "lab":
        cmd += ["--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    with open(base / "server.log", "w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_http(f"http://127.0.0.1:{port}/api/status?token={TOKEN}", proc)
            yield f"http://127.0.0.1:{port}", url_path
        finally:
            _stop(proc)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chrome")), executable_path=CHROMIUM, headless=True, args=CHROME_ARGS,
            viewport={"width": 1200, "height": 900})
        ctx.set_default_timeout(60_000)
        yield ctx
        ctx.close()


@pytest.fixture
def page(browser):
    """A fresh tab per test (closing it skips the "leave page?" prompt a running notebook would raise)."""
    pg = browser.new_page()
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    pg.close()


def run_all_cells(page, nb, attempts: int = 5) -> None:
    """Run > Run All via the menu bar (JupyterLab's and Notebook 7's both carry `runmenu:run-all`);
    retried because the item can be disabled right after load."""
    from playwright.sync_api import expect

    for _ in range(attempts):
        nb.locator(".jp-Cell .jp-InputPrompt").first.click()
        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        item = page.locator("li.lm-Menu-item[data-command='runmenu:run-all']")
        try:
            expect(item).not_to_have_class(re.compile(r"lm-mod-disabled"), timeout=5_000)
            item.click()
            expect(nb.locator(".jp-CodeCell .jp-InputPrompt").first).to_have_text(
                re.compile(r"\[(\*|\d+)\]"), timeout=10_000)
            return
        except AssertionError:
            page.keyboard.press("Escape")
    raise AssertionError("could not trigger Run All Cells")


def open_and_run_all(page, server, name: str):
    """Open `name` in the front end on a fresh kernel, Run All, and return the notebook's locator."""
    from playwright.sync_api import expect

    base, url_path = server
    with urllib.request.urlopen(f"{base}/api/sessions?token={TOKEN}") as answer:
        for s in json.load(answer):  # a previous test's kernel must not carry state over
            urllib.request.urlopen(urllib.request.Request(
                f"{base}/api/sessions/{s['id']}?token={TOKEN}", method="DELETE")).close()
    page.goto(f"{base}/{url_path.format(name)}?token={TOKEN}&reset")
    nb = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    expect(nb.locator(".jp-Cell").first).to_be_visible(timeout=60_000)
    expect(nb.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(1, timeout=60_000)
    run_all_cells(page, nb)
    return nb


def assert_every_cell_ran(page, nb) -> None:
    """Each code cell got an execution count (none left `[ ]` or `[*]`) and none raised."""
    from playwright.sync_api import expect

    prompts = nb.locator(".jp-CodeCell .jp-InputArea-prompt")
    expect(prompts.last).to_have_text(re.compile(r"\[\d+\]"), timeout=120_000)
    expect(nb.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(1, timeout=60_000)
    texts = prompts.all_text_contents()  # not inner text: cells scrolled out of view render none
    assert texts and all(re.fullmatch(r"\s*\[\d+\]:?\s*", t) for t in texts), texts
    shown = nb.text_content() or ""
    for bad in [*BAD, "Traceback (most recent call last)"]:
        assert bad not in shown, f"{bad!r} in the notebook: {shown[-2000:]}"


def assert_images_load(page, nb, at_least: int) -> None:
    """Every image in the outputs was decoded by the browser (complete, with a width)."""
    imgs = nb.locator(".jp-OutputArea-output img")
    for img in imgs.all():
        img.scroll_into_view_if_needed()
    sizes = imgs.evaluate_all("es => es.map(e => [e.complete, e.naturalWidth])")
    assert len(sizes) >= at_least and all(done and width > 0 for done, width in sizes), sizes


def test_quickstart_form_runs(server, page, tmp_path, request):
    from playwright.sync_api import expect

    nb = open_and_run_all(page, server, "quickstart.ipynb")
    form = nb.locator(".lamina-form")
    expect(form).to_be_visible(timeout=60_000)
    # the whole notebook ran: the last cell with a checked output printed the validation hint
    expect(nb.locator(".jp-OutputArea-output", has_text="Did you mean '16:9'?")).to_be_visible(timeout=90_000)
    assert_every_cell_ran(page, nb)
    assert_images_load(page, nb, at_least=3)  # the magic's run, the Client run view, the PIL thumbnail
    prompt = form.locator(".widget-textarea textarea").first
    prompt.fill("a red kite over the sea")
    form.locator(".widget-dropdown select").nth(1).select_option("16:9")
    form.locator("button.lamina-run-button").click()
    img = form.locator(".lamina-outputs img.lamina-image")
    expect(img).to_be_visible(timeout=60_000)
    expect(form.locator(".lamina-status-line")).to_contain_text("completed", timeout=30_000)
    complete, width, height = page.evaluate("e => [e.complete, e.naturalWidth, e.naturalHeight]",
                                            img.element_handle())
    assert complete and width == 256 and height == 144  # a 640x360 (16:9) image as a 256 px thumbnail
    shot = Path(os.environ.get("SHOT_DIR", tmp_path)) / f"form-{request.node.callspec.id}.png"
    form.screenshot(path=str(shot))
    form.locator("button.lamina-add-to-batch").click()  # the form's inputs become a row of form.batch
    expect(form).to_contain_text("1 row(s) in form.batch", timeout=30_000)
    discover = nb.locator(".lamina-discover")  # %lamina discover: each match opens its own form
    expect(discover.locator("button.lamina-discover-open").first).to_be_visible()
    discover.locator("button.lamina-discover-open").first.click()
    expect(discover.locator(".lamina-form button.lamina-run-button")).to_be_visible(timeout=60_000)
    assert not [e for e in page.errors if "widget" in e.lower()], page.errors


def test_batch_notebook_runs(server, page):
    from playwright.sync_api import expect

    nb = open_and_run_all(page, server, "batch.ipynb")
    assert_every_cell_ran(page, nb)
    # the live progress widget rendered, then left its static summary; galleries and grids show images
    expect(nb.locator(".jp-OutputArea-output", has_text="lamina: 12/12 done")).to_be_visible()
    assert_images_load(page, nb, at_least=8)
    assert not [e for e in page.errors if "widget" in e.lower()], page.errors


def test_experiments_notebook_runs(server, page):
    """Sweep -> grid -> refine -> compare: the grid and the before/after views render with their images."""
    from playwright.sync_api import expect

    nb = open_and_run_all(page, server, "experiments.ipynb")
    assert_every_cell_ran(page, nb)
    expect(nb.locator(".lamina-grid").first).to_be_visible()
    expect(nb.locator(".lamina-compare").first).to_be_visible()
    assert_images_load(page, nb, at_least=12)  # a 3 x 4 sweep grid, then the refined versions side by side
    assert not [e for e in page.errors if "widget" in e.lower()], page.errors
