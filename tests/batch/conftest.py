"""Helpers for the fan-out tests: unique prompts (the session emulator counts duplicate starts across
the whole session) and a client factory."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest


@pytest.fixture
def prompts():
    """prompts(n, fail_every=0) → a frame of unique prompts with a shuffled string index."""

    def make(n: int, fail_every: int = 0, **extra):
        tag = uuid.uuid4().hex[:8]
        rows = [
            f"{tag} picture {i}" + (" #fail" if fail_every and i % fail_every == 0 else "") for i in range(n)
        ]
        index = [f"id{(i * 7919) % (n * 3)}" for i in range(n)]
        return pd.DataFrame({"prompt": rows, **extra}, index=index)

    return make

