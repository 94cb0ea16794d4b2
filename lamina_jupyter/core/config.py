"""Settings and where they come from.

Key: argument → LAMINA_API_KEY → `.env` in the working directory → ~/.lamina/config.json (the file
the official Lamina CLI writes). The base URL is the `base_url` argument (the user's explicit
choice), else LAMINA_BASE_URL / `baseUrl` from the *same* place the key came from, else
https://app.uselamina.ai: a `.env` in a cloned repository must not send a key kept elsewhere to the
server it names. Plain http:// is accepted only for this machine (the emulator). The key is wrapped
in a `Secret` as soon as it is read.
"""

from __future__ import annotations

import ipaddress
import json
import os
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from .errors import KEYS_URL, ConfigurationError, LaminaWarning
from .redact import Secret

DEFAULT_BASE_URL = "https://app.uselamina.ai"
FAMILIES = ("v1", "legacy")
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=10.0)
DEFAULT_MAX_RETRIES = 2


@dataclass(frozen=True)
class Settings:
    api_key: Secret
    base_url: str
    api: str = "v1"
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)
    max_retries: int = DEFAULT_MAX_RETRIES
    key_source: str = "argument"
    base_url_source: str = "default"

    @property
    def server(self) -> str:
        """The base URL, with a plain note when it is not Lamina's own server and where it was set."""
        if self.base_url == DEFAULT_BASE_URL:
            return repr(self.base_url)
        return f"{self.base_url!r} (not app.uselamina.ai; set by {self.base_url_source})"

    def __repr__(self) -> str:
        return f"Settings(base_url={self.server}, api={self.api!r}, api_key={self.api_key.masked!r})"


def read_dotenv(path: Path, name: str) -> str | None:
    """One value from a .env file, parsed by python-dotenv (quotes, `export`, escapes, multi-line
    values, comments). Variables are not expanded, and the dict of every value in the file is never
    bound to a name, so no other secret of the file sits in a frame a verbose traceback may print."""
    from dotenv import dotenv_values

    try:
        return dotenv_values(path, interpolate=False, encoding="utf-8").get(name)
    except (OSError, UnicodeDecodeError):
        return None


def config_path() -> Path:
    return Path.home() / ".lamina" / "config.json"


def read_stored(name: str, path: Path | None = None) -> str | None:
    """One field of the CLI's credentials block (version 1, kind apikey|oauth), or None.
    Warns first, before reading, when group or other users can read the file."""
    path = path or config_path()
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.warn(f"{path} is readable by other users (mode {stat.S_IMODE(mode):04o}); it holds your "
                      f"Lamina API key. Run: chmod 600 {path}", LaminaWarning, stacklevel=4)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    creds = data.get("credentials") if isinstance(data, dict) and data.get("version") == 1 else None
    if not isinstance(creds, dict) or creds.get("kind") not in ("apikey", "oauth"):
        return None
    value = creds.get(name)
    return value if isinstance(value, str) and value.strip() else None


def discover(env_name: str, stored_name: str) -> tuple[str | None, str]:
    """(value, where it came from) along environment → .env → ~/.lamina/config.json."""
    for source in (env_name, ".env", str(config_path())):
        value = read_from(source, env_name, stored_name)
        if value:
            return value, source
    return None, ""


def read_from(source: str, env_name: str, stored_name: str) -> str | None:
    """One setting from one named place (as `discover` names them), or None."""
    if source == env_name:
        value = os.environ.get(env_name, "")
        return value if value.strip() else None
    if source == ".env":
        return read_dotenv(Path.cwd() / ".env", env_name)
    return read_stored(stored_name)


def paired_base_url(key_source: str) -> tuple[str, str]:
    """(base URL, where it was set) for a key found at `key_source`: the URL from that same place, else
    the default. A URL found elsewhere is ignored with a warning that says why and what to do."""
    same_place = "LAMINA_BASE_URL" if key_source == "LAMINA_API_KEY" else key_source
    own = read_from(same_place, "LAMINA_BASE_URL", "baseUrl") if key_source != "argument" else None
    if own:
        return own, same_place
    other, where = discover("LAMINA_BASE_URL", "baseUrl")
    if other and other.strip().rstrip("/") != DEFAULT_BASE_URL:
        key_from = "the api_key argument" if key_source == "argument" else key_source
        warnings.warn(f"The base URL {other.strip()!r} from {where} is ignored: the API key came from "
                      f"{key_from}, and a key goes only to a server named in the same place (a .env in a "
                      "cloned repository must not redirect it). Set both in one place, or pass base_url= "
                      "explicitly.", LaminaWarning, stacklevel=4)
    return DEFAULT_BASE_URL, "default"


def missing_key_message() -> str:
    return ("No Lamina API key found. Set one of:\n"
            "  - Client(api_key='lma_...')\n"
            "  - the LAMINA_API_KEY environment variable\n"
            "  - a LAMINA_API_KEY=lma_... line in a .env file in the working directory\n"
            "  - ~/.lamina/config.json (written by `lamina login` of the Lamina CLI)\n"
            f"Create a key at {KEYS_URL}. No key yet? Try the local demo: "
            "run `%lamina demo` in a notebook, or start `python -m lamina_jupyter.emulator`.")


def check_key_shape(secret: Secret) -> None:
    """Refuse keys that cannot travel in a header or belong to the other Lamina (Lamina Labs), warn
    about other odd shapes; never echo the key (HTTP libraries quote a refused header in full)."""
    stray = next((i for i, ch in enumerate(secret.reveal()) if not "!" <= ch <= "~"), None)
    if stray is not None:
        raise ConfigurationError(
            f"The API key has a character that cannot be sent in an HTTP header at position {stray + 1} "
            "(a space, line break, NUL, control or non-ASCII character, often from copying). Copy the "
            f"key again from {KEYS_URL} and set it without extra characters.")
    prefix = secret.reveal()[:7]
    if prefix.startswith("lamina_"):
        raise ConfigurationError(
            "This API key starts with 'lamina_', the prefix of Lamina Labs' keys (the unrelated PyPI "
            "package lamina-sdk also reads LAMINA_API_KEY). Lamina (uselamina.ai) keys start with 'lma_'; "
            f"create one at {KEYS_URL}, or set LAMINA_API_KEY to it for this notebook.")
    if not prefix.startswith("lma_"):
        warnings.warn("This API key does not start with 'lma_', the prefix of Lamina (uselamina.ai) keys; "
                      f"requests will probably fail with 401. Keys are made at {KEYS_URL}.",
                      LaminaWarning, stacklevel=4)


def is_loopback(host: str) -> bool:
    """This machine only: localhost, 127.0.0.0/8 or ::1 (names that merely start so do not count)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_base_url(url: str, source: str = "the base_url argument") -> str:
    """The URL without a trailing slash; https anywhere, plain http only on loopback (the key is sent
    in a header, and plain http would show it to everyone on the network path)."""
    url = url.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        parts, host = urlsplit(""), ""
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise ConfigurationError(f"Base URL {url!r} (from {source}) is not an http(s) URL. Use e.g. "
                                 f"{DEFAULT_BASE_URL} or the emulator's URL (http://127.0.0.1:<port>).")
    if parts.scheme.lower() == "http" and not is_loopback(host):
        raise ConfigurationError(f"Base URL {url!r} (from {source}) is plain http to another machine: the "
                                 "API key would travel unencrypted. Use https:// (Lamina itself is "
                                 f"{DEFAULT_BASE_URL}); plain http is only for a server on this machine "
                                 "(127.0.0.1, localhost, ::1), such as the emulator.")
    return url


def _timeout(value: Any) -> httpx.Timeout:
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, httpx.Timeout):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return httpx.Timeout(connect=5.0, read=float(value), write=float(value), pool=10.0)
    raise TypeError(f"timeout must be a positive number of seconds or httpx.Timeout, not {value!r}")


def resolve_settings(api_key: str | Secret | None = None, base_url: str | None = None, api: str = "v1",
                     timeout: Any = None, max_retries: int = DEFAULT_MAX_RETRIES) -> Settings:
    """Find the key and base URL along the discovery chain and validate the rest."""
    # Rebind at once: verbose tracebacks print locals, and a Secret prints masked.
    api_key = Secret(api_key.strip()) if isinstance(api_key, str) else api_key
    if isinstance(api_key, Secret):
        api_key = Secret(api_key.reveal().strip())  # a pasted key often carries a trailing newline
    if api not in FAMILIES:
        raise ValueError(f"api must be 'v1' or 'legacy', not {api!r}")
    if not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(f"max_retries must be a non-negative int, not {max_retries!r}")
    source = "argument"
    if api_key is None:
        found, source = discover("LAMINA_API_KEY", "apiKey")
        api_key = Secret(found.strip()) if found else None
        del found
    if api_key is None or not api_key.reveal():
        raise ConfigurationError(missing_key_message())
    check_key_shape(api_key)
    url, url_source = (base_url, "the base_url argument") if base_url else paired_base_url(source)
    return Settings(api_key=api_key, base_url=normalise_base_url(url, url_source), api=api,
                    timeout=_timeout(timeout), max_retries=max_retries, key_source=source,
                    base_url_source=url_source)
