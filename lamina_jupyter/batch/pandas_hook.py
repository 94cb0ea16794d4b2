"""Register `df.lamina` when pandas is imported, not when the extension loads.

Importing pandas was 531 of the 697 ms of `%load_ext lamina_jupyter`. If pandas is already loaded
the accessor registers at once; otherwise a one-shot `sys.meta_path` finder wraps pandas' own loader
so the accessor registers right after pandas finishes executing, inside the same `import pandas`
statement (an IPython post-cell event would leave `df.lamina` missing in the cell that imports pandas).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from ..core.errors import LaminaWarning


def register_accessor() -> None:
    from . import api  # noqa: F401  (importing it registers df.lamina)


def _register_after_pandas() -> None:
    try:
        register_accessor()
    except Exception as exc:  # never break `import pandas` itself
        warnings.warn(f"df.lamina is unavailable ({type(exc).__name__}: {exc}); call "
                      "lamina_jupyter.run_dataframe(df, app) instead.", LaminaWarning, stacklevel=2)


class PandasFinder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: lets the other finders locate pandas and wraps the loader they return."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != "pandas":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)  # one shot, and the lookup below must not find us again
        spec = importlib.util.find_spec("pandas")
        loader: Any = spec.loader if spec is not None else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        load = loader.exec_module

        def exec_then_register(module: ModuleType) -> None:
            load(module)
            _register_after_pandas()

        loader.exec_module = exec_then_register  # this spec's loader instance only
        return spec


def register_when_pandas_loads() -> None:
    if "pandas" in sys.modules:
        register_accessor()
    elif not any(isinstance(f, PandasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, PandasFinder())
