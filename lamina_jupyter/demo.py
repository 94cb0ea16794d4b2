"""`make demo`: the quickstart notebook against a local emulator, no account needed.

    python -m lamina_jupyter.demo                              # JupyterLab on notebooks/quickstart.ipynb
    python -m lamina_jupyter.demo --headless --out demo-output # execute it, write HTML + images

The emulator runs in this process; its URL and throw-away key reach the notebook's kernel through
LAMINA_BASE_URL / LAMINA_API_KEY, and `%lamina demo` in the notebook reuses it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from .emulator import Emulator

NOTEBOOK = Path("notebooks") / "quickstart.ipynb"
DEMO_SETTINGS = dict(latency=0.6, jitter=0.0, rate_limit=100)


def find_notebook() -> Path:
    """notebooks/quickstart.ipynb of the working directory, else of the source checkout."""
    for base in (Path.cwd(), Path(__file__).resolve().parent.parent):
        if (base / NOTEBOOK).is_file():
            return base / NOTEBOOK
    raise SystemExit(f"cannot find {NOTEBOOK}: run this from the lamina-jupyter repository root")


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

    from .client import Client

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
    parser = argparse.ArgumentParser(prog="python -m lamina_jupyter.demo",
                                     description="The quickstart notebook against a local emulator.")
    parser.add_argument("--headless", action="store_true", help="execute the notebook instead of opening Lab")
    parser.add_argument("--out", default="demo-output", help="where --headless writes (default demo-output)")
    args = parser.parse_args(argv)
    notebook = find_notebook()
    with Emulator(**DEMO_SETTINGS) as emu:  # type: ignore[arg-type]
        if not args.headless:
            return interactive(notebook, emu)
        written = headless(notebook, emu, Path(args.out))
    print(f"Executed {notebook} against the demo emulator. Wrote:")
    for path in written:
        print(f"  {path} ({path.stat().st_size // 1024 or 1} KB)")
    if not any(p.suffix == ".png" for p in written):
        print("No PNG was produced: the notebook ran no image app successfully.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
