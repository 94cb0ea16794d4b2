"""Keeping the API key out of every message, repr and traceback.

The key lives in a `Secret` whose repr/str is masked. Only the request-signing code calls
`reveal()`. `redact()` scrubs anything that looks like a Lamina key or a Bearer value from text we
build (error messages, excerpts of server bodies), because a server may echo what it was sent;
`clean()` also drops terminal control sequences, so a server's message cannot repaint a terminal;
`redact_data()` redacts JSON a server sent back (error details), which stays data: control
characters in it are kept, since field names must still match the parameters they name.
"""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Any

_KEY_PATTERN = re.compile(r"lma_[A-Za-z0-9_-]{8,}")
_BEARER = re.compile(r"(bearer\s+)[^\s'\"]+", re.IGNORECASE)  # up to the quote of a b'…' header repr
_TERMINAL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]"             # CSI: colours, cursor moves, clears
                       r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: titles, hyperlinks
                       r"|\x9b[0-?]*[ -/]*[@-~]"               # 8-bit CSI
                       r"|\x1b[@-_]?"                          # any other escape
                       r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]")       # other control characters (\t and \n stay)
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "cookie", "set-cookie"})
MAX_DEPTH = 64


def redact(text: str) -> str:
    """Replace every `lma_…` key-shaped token and every Bearer value with a mask."""
    return _KEY_PATTERN.sub("lma_***", _BEARER.sub(r"\1***", text))


def redacted_repr(obj: Any) -> str:
    """A dataclass's repr with key-shaped text masked: for objects holding text a server sent (a
    server may echo the key, and a repr reaches tracebacks, logs and saved notebooks)."""
    shown = ", ".join(f"{f.name}={getattr(obj, f.name)!r}" for f in fields(obj) if f.repr)
    return redact(f"{type(obj).__name__}({shown})")


def clean(text: str) -> str:
    """`redact` after dropping terminal control sequences (dropped first, so an escape code cannot
    split a key into pieces the key pattern would miss)."""
    return redact(_TERMINAL.sub("", text))


def redact_data(value: Any, depth: int = 0) -> Any:
    """A copy of JSON data with every string redacted and credential-named fields masked."""
    if depth > MAX_DEPTH:
        return "…"
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_data(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {k: "***" if str(k).lower() in CREDENTIAL_HEADERS else redact_data(v, depth + 1)
                for k, v in value.items()}
    return value


def mask(value: str) -> str:
    """`lma_…wxyz`: the prefix and the last four characters, enough to tell two keys apart."""
    if len(value) <= 12:
        return "…"
    prefix = value.split("_", 1)[0] + "_" if "_" in value[:8] else ""
    return f"{prefix}…{value[-4:]}"


class Secret:
    """A string that refuses to show itself: repr, str and format print the mask only.

    IPython's verbose tracebacks print every local and argument, so the key is passed around in
    this wrapper and unwrapped only where the Authorization header is built.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    @property
    def masked(self) -> str:
        return mask(self._value)

    def __repr__(self) -> str:
        return f"Secret({self.masked!r})"

    def __str__(self) -> str:
        return self.masked

    def __format__(self, spec: str) -> str:
        return format(self.masked, spec)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self):  # pickling would write the key to disk (e.g. notebook state savers)
        raise TypeError("Secret values cannot be pickled")
