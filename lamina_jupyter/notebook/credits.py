"""The account's credit balance and rate limit as `%lamina whoami` shows them.

Reading them is one extra request; when it fails (legacy API, a key without access, a network
problem) whoami still answers, saying why the balance is missing.
"""

from __future__ import annotations

from ..core.client import Client
from ..core.errors import LaminaError


def usage_lines(client: Client) -> list[str]:
    try:
        usage = client.usage()
    except LaminaError as exc:
        return [f"credits:  unknown ({exc.message.splitlines()[0][:120]})"]
    balance = "unknown" if usage.balance is None else f"{usage.balance:g}"
    if usage.rate_limit is None:
        rate = "no limit reported"
    else:
        window = f"{usage.window_seconds:g} s" if usage.window_seconds is not None else "window unknown"
        rate = f"{usage.rate_limit} requests per {window}"
    return [f"credits:  {balance} left", f"rate:     {rate}"]
