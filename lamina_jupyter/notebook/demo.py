"""`make demo`: the quickstart notebook against a local emulator, no account needed.

    lamina-demo                          # JupyterLab on notebooks/quickstart.ipynb
    lamina-demo --headless --out out     # execute it, write HTML + images

The emulator runs in this process; its URL and throw-away key reach the notebook's kernel through
LAMINA_BASE_URL / LAMINA_API_KEY, and `%lamina demo` in the notebook reuses it.

A plain `pip install lamina-jupyter` has neither the notebook file nor JupyterLab/nbclient: then the
demo does the same job as a script (list the apps, run one, save its image) and says how to get the
notebook version.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from ..emulator import Emulator

NOTEBOOK = Path("notebooks") / "quickstart.ipynb"
DEMO_SETTINGS = dict(latency=0.6, jitter=0.0, rate_limit=100)


def find_notebook() -> Path | None:
    """notebooks/quickstart.ipynb of the working directory, else of the source checkout."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (base / NOTEBOOK).is_file():
            return base / NOTEBOOK
    return None


def missing_notebook_tools(headless: bool) -> list[str]:
    """The modules the notebook demo needs that this environment lacks."""
    import importlib.util

    needed = ("nbformat", "nbclient", "nbconvert", "ipykernel") if headless else ("jupyterlab",)
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
    return dict(os.environ, LAMINA_BASE_URL=emu.base_url, LAMINA_API_KEY=emu.api_key)


def interactive(notebook: Path, emu: Emulator) -> int:
    print(f"Demo emulator at {emu.base_url} (sample apps, nothing billed). Opening JupyterLab; "
          "Ctrl-C stops both.")
    cmd = [sys.executable, "-m", "jupyter", "lab", str(notebook.name)]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    lab = subprocess.Popen(cmd, cwd=notebook.parent, env=kernel_env(emu))
    try:
        return lab.wait()
    except KeyboardInterrupt:  # one Ctrl-C stops Lab (and its kernels), then the emulator
        lab.terminate()
        lab.wait(30)
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
    args = parser.parse_args(argv)
    notebook = find_notebook()
    missing = missing_notebook_tools(args.headless)
    with Emulator(**DEMO_SETTINGS) as emu:  # type: ignore[arg-type]
        if notebook is None or missing:
            why = f"{NOTEBOOK} is not here" if notebook is None else f"{', '.join(missing)} not installed"
            print(f"Running the script demo ({why}; for the notebook demo: pip install jupyterlab, then "
                  "`%load_ext lamina_jupyter` and `%lamina demo` in any notebook).")
            written = script_demo(emu, Path(args.out))
        elif not args.headless:
            return interactive(notebook, emu)
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
