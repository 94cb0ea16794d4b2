"""Keeping the API key out of every message, repr and traceback.

The key lives in a `Secret` whose repr/str is masked. Only the request-signing code calls
`reveal()`. `redact()` scrubs anything that looks like a Lamina key from text we build (error
messages, excerpts of server bodies), because a server may echo what it was sent.
"""

from __future__ import annotations

import re

_KEY_PATTERN = re.compile(r"lma_[A-Za-z0-9_-]{8,}")


def redact(text: str) -> str:
    """Replace every `lma_…` key-shaped token with a mask."""
    return _KEY_PATTERN.sub("lma_***", text)


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
