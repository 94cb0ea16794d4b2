"""`make demo`: the quickstart notebook against a local emulator, no account needed.

    lamina-demo                          # JupyterLab on notebooks/quickstart.ipynb
    lamina-demo --ui notebook            # the same in Notebook 7
    lamina-demo --headless --out out     # execute it, write HTML + images

The emulator runs in this process; its URL and throw-away key reach the notebook's kernel through
LAMINA_BASE_URL / LAMINA_API_KEY, and `%lamina demo` in the notebook reuses it. The printed URL opens
the quickstart itself (not the launcher), and JupyterLab's "get notified about news?" prompt is off
for the demo's server only (an app-settings override in a temporary folder; the user's settings are
not touched).

Outside a source checkout the quickstart ships inside the package and is copied into the working
directory. Without JupyterLab/nbclient the demo does the same job as a script (list the apps, run
one, save its image) and says how to get the notebook version.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..emulator import Emulator

NOTEBOOK = Path("notebooks") / "quickstart.ipynb"
DEMO_SETTINGS = dict(latency=0.6, jitter=0.0, rate_limit=100)


# The news prompt covers the notebook's corner on a first start; off for the demo's server only.
NO_NEWS = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}
UI_PATHS = {"lab": "/lab/tree/{name}", "notebook": "/notebooks/{name}"}


def find_notebook() -> Path | None:
    """notebooks/quickstart.ipynb of the working directory or of the source checkout; else
    ./quickstart.ipynb, copied there from the package the first time."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (base / NOTEBOOK).is_file():
            return base / NOTEBOOK
    here = Path.cwd() / NOTEBOOK.name
    if not here.is_file():
        packaged = Path(__file__).resolve().parents[1] / "examples" / NOTEBOOK.name  # in a wheel
        if not packaged.is_file():
            return None
        here.write_bytes(packaged.read_bytes())
        print(f"Copied the quickstart notebook to {here}")
    return here


def missing_notebook_tools(headless: bool, ui: str = "lab") -> list[str]:
    """The modules the notebook demo needs that this environment lacks."""
    import importlib.util

    if headless:
        needed = ["nbformat", "nbclient", "nbconvert", "ipykernel"]
    else:
        needed = ["jupyterlab"] + (["notebook"] if ui == "notebook" else [])
    return [name for name in needed if importlib.util.find_spec(name) is None]


def script_demo(emu: Emulator, out: Path) -> list[Path]:
    """The quickstart's core as a script: list the apps, run Text to Image, save the image."""
    from ..core.client import Client

    out.mkdir(parents=True, exist_ok=True)
    with Client(api_key=emu.api_key, base_url=emu.base_url) as client:
        apps = client.list_apps()
        print("Apps:", ", ".join(app.name for app in apps))
        run = client.run("Text to Image", {"Prompt": "a lighthouse at dawn", "Aspect Ratio": "16:9"},
                         on_update=lambda r: print(f"  run {r.id}: {r.status}"))
        return [Path(run.outputs[0].save(out / f"{run.id[:8]}-0-Image.png"))]


def kernel_env(emu: Emulator) -> dict[str, str]:
    """The kernel's environment: the emulator's URL and throw-away key, marked as the demo's so that
    `%lamina demo` reuses them (and never a real key that happens to sit beside a local URL)."""
    return dict(os.environ, LAMINA_BASE_URL=emu.base_url, LAMINA_API_KEY=emu.api_key,
                LAMINA_DEMO_URL=emu.base_url)


def demo_app_settings(folder: Path) -> Path:
    """A copy of the environment's JupyterLab app settings plus the demo's override (news prompt off)."""
    from jupyterlab.commands import get_app_dir

    settings = folder / "app-settings"
    original = Path(get_app_dir()) / "settings"
    if original.is_dir():
        shutil.copytree(original, settings)
    (settings / "overrides.d").mkdir(parents=True, exist_ok=True)
    (settings / "overrides.d" / "lamina-demo.json").write_text(json.dumps(NO_NEWS), encoding="utf-8")
    return settings


def jupyter_command(ui: str, notebook: Path, settings: Path, open_browser: bool) -> tuple[list[str], str]:
    """The server command line and the URL that opens the notebook itself."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyter", ui, "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--LabServerApp.app_settings_dir={settings}",
           f"--ServerApp.open_browser={open_browser}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    cmd.append(notebook.name)  # what Jupyter opens in the browser it starts
    return cmd, f"http://127.0.0.1:{port}{UI_PATHS[ui].format(name=notebook.name)}?token={token}"


def wait_until_serving(url: str, server: subprocess.Popen, timeout: float = 120) -> bool:
    status = url.split("/", 3)[:3] + ["api/status?" + url.rsplit("?", 1)[1]]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen("/".join(status), timeout=2):
                return True
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    return False


def interactive(notebook: Path, emu: Emulator, ui: str, open_browser: bool) -> int:
    name = {"lab": "JupyterLab", "notebook": "Notebook 7"}[ui]
    print(f"Demo emulator at {emu.base_url} (sample apps, nothing billed). Starting {name}; "
          "Ctrl-C stops both.", flush=True)
    with tempfile.TemporaryDirectory(prefix="lamina-demo-") as folder:
        cmd, url = jupyter_command(ui, notebook, demo_app_settings(Path(folder)), open_browser)
        server = subprocess.Popen(cmd, cwd=notebook.parent, env=kernel_env(emu))
        try:
            if wait_until_serving(url, server):
                print(f"\n    Open the quickstart: {url}\n", flush=True)
            return server.wait()
        except KeyboardInterrupt:  # one Ctrl-C stops the server (and its kernels), then the emulator
            server.terminate()
            server.wait(30)
            return 0


def headless(notebook: Path, emu: Emulator, out: Path) -> list[Path]:
    """Execute the notebook against the emulator; write its HTML and every image the runs produced."""
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    from ..core.client import Client

    out.mkdir(parents=True, exist_ok=True)
    nb = nbformat.read(notebook, as_version=4)
    os.environ.update(kernel_env(emu))  # this process exists for the demo; the kernel inherits these
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(notebook.parent)}}).execute()
    written = [out / "quickstart.html"]
    body, _ = HTMLExporter().from_notebook_node(nb)
    written[0].write_text(body, encoding="utf-8")
    with Client(api_key=emu.api_key, base_url=emu.base_url) as client:
        for summary in client.list_runs(status="completed"):
            run = client.get_run(summary.id)  # list entries may omit outputs
            for index, output in enumerate(run.outputs):
                mime = output.mime_type or ""
                if output.is_media and mime.startswith("image/"):
                    ext = mime.split("/", 1)[1].replace("jpeg", "jpg")
                    name = f"{run.id[:8]}-{index}-{output.label or 'image'}.{ext}".replace(" ", "_")
                    written.append(Path(output.save(out / name)))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lamina-demo",
                                     description="The quickstart notebook against a local emulator.")
    parser.add_argument("--headless", action="store_true", help="execute the notebook instead of opening Lab")
    parser.add_argument("--out", default="demo-output", help="where --headless writes (default demo-output)")
    parser.add_argument("--ui", choices=sorted(UI_PATHS), default="lab",
                        help="JupyterLab (default) or Notebook 7")
    parser.add_argument("--no-browser", action="store_true", help="print the URL only, open no browser")
    args = parser.parse_args(argv)
    notebook = find_notebook()
    missing = missing_notebook_tools(args.headless, args.ui)
    with Emulator(**DEMO_SETTINGS) as emu:  # type: ignore[arg-type]
        if notebook is None or missing:
            why = f"{NOTEBOOK} is not here" if notebook is None else f"{', '.join(missing)} not installed"
            print(f"Running the script demo ({why}; for the notebook demo: pip install jupyterlab, then "
                  "`%load_ext lamina_jupyter` and `%lamina demo` in any notebook).")
            written = script_demo(emu, Path(args.out))
        elif not args.headless:
            return interactive(notebook, emu, args.ui, not args.no_browser)
        else:
            written = headless(notebook, emu, Path(args.out))
            print(f"Executed {notebook} against the demo emulator.")
    print("Wrote:")
    for path in written:
        print(f"  {path} ({path.stat().st_size // 1024 or 1} KB)")
    if not any(p.suffix == ".png" for p in written):
        print("No PNG was produced: the notebook ran no image app successfully.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
