"""lamina-jupyter: the Jupyter toolkit for the Lamina AI apps API.

The core (this module's imports) needs only the standard library and httpx; Pillow, pandas,
ipywidgets, IPython and the emulator are imported inside the functions that need them.
"""

from typing import Any

from .core.client import AsyncClient, Client
from .core.errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    LaminaConnectionError,
    LaminaError,
    LaminaWarning,
    NotFoundError,
    RateLimitError,
    ResponseError,
    RunFailedError,
    ServerError,
    SignatureError,
    TransportError,
    UncertainStartError,
    ValidationError,
    WaitTimeout,
)
from .core.models import App, Estimate, Output, Parameter, Progress, Run
from .notebook import hooks as _hooks

__version__ = "0.1.0"

__all__ = [
    "APIError", "App", "AsyncClient", "AuthenticationError", "Client", "ConfigurationError", "current_client",
    "Estimate",
    "LaminaConnectionError", "LaminaError", "LaminaWarning", "NotFoundError", "Output", "Parameter",
    "Progress", "RateLimitError", "ResponseError", "Run", "RunFailedError", "ServerError", "SignatureError",
    "TransportError", "UncertainStartError", "ValidationError", "WaitTimeout", "__version__", "form",
    "load_ipython_extension",
]


def load_ipython_extension(ipython: object) -> None:
    """`%load_ext lamina_jupyter` registers %lamina / %%lamina now and the `df.lamina` DataFrame accessor
    as soon as pandas is imported (IPython is imported now, pandas not: it was 3/4 of the load time)."""
    from .batch.pandas_hook import register_when_pandas_loads
    from .notebook.magic import load

    register_when_pandas_loads()
    load(ipython)


def current_client() -> Client:
    """The kernel's current client: the one `%lamina login` or `%lamina demo` set up, else one built from
    LAMINA_API_KEY / .env / ~/.lamina. A bare `Client()` uses the same session."""
    from .notebook.session import current_client as current

    return current()


def form(app: App | str, client: Client | None = None, values: object = None) -> object:
    """A widget form for `app` with a Run button (ipywidgets is imported only now); `values` (a dict
    or a DataFrame row) pre-fills it."""
    from .notebook.form import form as build

    return build(app, client, values)


async def _form_sweep(*args: Any, **kwargs: Any) -> Any:
    """A form's sweep, plugged into the notebook layer (which may not import batch/); pandas loads
    only when a sweep really runs."""
    from .batch.sweep import sweep_for_form

    return await sweep_for_form(*args, **kwargs)


_hooks.register_sweep_runner(_form_sweep)


def __getattr__(name: str) -> object:
    """run_dataframe / arun_dataframe / sweep load pandas, compare the notebook views, and webhooks loads
    its module (cryptography is imported only when a signature is checked), on first use only:
    `import lamina_jupyter` stays light."""
    if name in ("run_dataframe", "arun_dataframe"):
        from .batch import api

        return getattr(api, name)
    if name == "sweep":
        from .batch.sweep import sweep

        return sweep
    if name == "compare":
        from .notebook.compare import compare

        return compare
    if name == "webhooks":
        from .core import webhooks

        return webhooks
    raise AttributeError(f"module 'lamina_jupyter' has no attribute {name!r}")
