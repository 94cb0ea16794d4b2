"""`metered(emulator, balance)`: a test's own metered credit grant, unmetered again afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def metered(emulator: Any, balance: float, status: int = 402) -> Iterator[Any]:
    """Runs consume `balance` by their estimate; a run it cannot cover is refused with `status`."""
    emulator.configure(credits=balance, out_of_credits_status=status)
    try:
        yield emulator
    finally:
        emulator.configure(credits=None, out_of_credits_status=402)
