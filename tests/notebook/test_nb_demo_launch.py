"""`make demo` as a new user meets it: the printed URL opens the quickstart itself (not the launcher),
in JupyterLab or Notebook 7, with the news prompt off for the demo's server only; and after a plain
`pip install` of the built wheel (no checkout) `lamina-demo` copies the quickstart and runs."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _start_demo(tmp_path: Path, ui: str) -> tuple[subprocess.Popen, str]:
    home = tmp_path / "home"  # a user with no Jupyter settings of their own
    env = dict(os.environ, HOME=str(home), JUPYTER_CONFIG_DIR=str(home / ".jupyter"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "lab-user-settings"), PYTHONUNBUFFERED="1")
    demo = [sys.executable, "-m", "lamina_jupyter.notebook.demo", "--no-browser", "--ui", ui]
    proc = subprocess.Popen(demo, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    assert proc.stdout is not None
    for line in proc.stdout:
        found = re.search(r"Open the quickstart: (\S+)", line)
        if found:
            return proc, found.group(1)
        assert time.monotonic() < deadline, "the demo printed no URL in 120 s"
    raise AssertionError(f"the demo exited (rc={proc.wait()}) without printing a URL")


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)  # what the user's Ctrl-C does: server, kernels, then the emulator
    try:
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read()


@pytest.mark.parametrize(("ui", "path"), [("lab", "/lab/tree/quickstart.ipynb"),
                                          ("notebook", "/notebooks/quickstart.ipynb")])
def test_demo_prints_the_quickstarts_own_url_without_the_news_prompt(tmp_path, ui, path):
    proc, url = _start_demo(tmp_path, ui)
    try:
        origin, token = url.split("/", 3)[:3], url.rsplit("token=", 1)[1]
        assert url.startswith("http://127.0.0.1:") and path + "?token=" in url
        assert _get(url)[0] == 200
        status, body = _get("/".join(origin) + f"/api/contents/quickstart.ipynb?token={token}&content=0")
        assert status == 200 and json.loads(body)["type"] == "notebook"  # the page opens this notebook
        settings_url = "/".join(origin) + (
            f"/lab/api/settings/@jupyterlab/apputils-extension:notification?token={token}")
        status, body = _get(settings_url)
        answer = json.loads(body)  # the page reads the user's settings over these defaults
        defaults = {k: v.get("default") for k, v in answer["schema"]["properties"].items()}
        assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False
        assert "fetchNews" not in answer.get("settings", {})  # no user setting says otherwise
    finally:
        _stop(proc)


def test_the_users_own_settings_are_not_touched(tmp_path):
    user_settings = tmp_path / "home" / "lab-user-settings"
    proc, _ = _start_demo(tmp_path, "lab")
    _stop(proc)
    assert not user_settings.exists() or not any(user_settings.rglob("*.jupyterlab-settings"))


def test_a_plain_pip_install_copies_the_quickstart_and_runs(tmp_path):
    """From the built wheel in a fresh virtual environment (dependencies from PyPI, no JupyterLab):
    lamina-demo copies the quickstart into an empty folder and runs the script demo."""
    dist, venv, work, source = (tmp_path / name for name in ("dist", "venv", "work", "source"))
    # build from a copy: a build leaves build/ and *.egg-info behind, and an egg-info on the path
    # would make pip think lamina-jupyter is already installed
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info",
                                                                  "__pycache__", ".lamina", "demo-output"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    wheel_cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(source)]
    build = subprocess.run(wheel_cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next(dist.glob("lamina_jupyter-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {p.relative_to(source).as_posix() for p in (source / "lamina_jupyter").rglob("*.py")}
    assert sources <= names, f"missing from the wheel: {sorted(sources - names)[:5]}"
    assert {"lamina_jupyter/examples/quickstart.ipynb", "lamina_jupyter/examples/batch.ipynb"} <= names
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120, cwd=tmp_path, env=env)
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)],
                             capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert install.returncode == 0, install.stderr[-2000:]
    work.mkdir()
    result = subprocess.run([str(venv / "bin" / "lamina-demo"), "--out", "out"], cwd=work, env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    copied = work / "quickstart.ipynb"
    assert copied.read_bytes() == (REPO / "notebooks" / "quickstart.ipynb").read_bytes()
    assert "Copied the quickstart notebook" in result.stdout and "jupyterlab not installed" in result.stdout
    assert next((work / "out").glob("*.png")).read_bytes().startswith(b"\x89PNG")
