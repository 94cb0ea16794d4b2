"""Work a form offers but the notebook layer cannot do itself: batch/ sits above it (core <- notebook <-
batch), so the package root plugs the batch side in here and a form calls it without importing batch.

Stdlib only: `lamina_jupyter/__init__.py` imports this module, and `import lamina_jupyter` stays light.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

# runner(app, factors, *, constants, repeat, client, on_progress) -> (result frame, grid); awaited on
# the forms' worker loop; on_progress(html) is called there with the fan-out's progress display.
SweepRunner = Callable[..., Awaitable[tuple[Any, Any]]]
_runners: dict[str, SweepRunner] = {}


def register_sweep_runner(runner: SweepRunner) -> None:
    _runners["sweep"] = runner


def sweep_runner() -> SweepRunner:
    """Always set: Python runs lamina_jupyter/__init__.py (which registers it) before any submodule."""
    return _runners["sweep"]
