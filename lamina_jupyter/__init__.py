"""lamina-jupyter: the Jupyter toolkit for the Lamina AI apps API.

The core (this module's imports) needs only the standard library and httpx; Pillow, pandas,
ipywidgets, IPython and the emulator are imported inside the functions that need them.
"""

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

__version__ = "0.1.0"

__all__ = [
    "APIError", "App", "AsyncClient", "AuthenticationError", "Client", "ConfigurationError", "Estimate",
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


def form(app: App | str, client: Client | None = None) -> object:
    """A widget form for `app` with a Run button (ipywidgets is imported only now)."""
    from .notebook.form import form as build

    return build(app, client)


def __getattr__(name: str) -> object:
    """run_dataframe / arun_dataframe load pandas, and webhooks loads its module (cryptography is imported
    only when a signature is checked), on first use only: `import lamina_jupyter` stays light."""
    if name in ("run_dataframe", "arun_dataframe"):
        from .batch import api

        return getattr(api, name)
    if name == "webhooks":
        from .core import webhooks

        return webhooks
    raise AttributeError(f"module 'lamina_jupyter' has no attribute {name!r}")
