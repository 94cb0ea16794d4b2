"""Everything one emulator instance owns, bundled so route modules receive a single object."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from .apps import APPS, App
from .config import Settings, Stats
from .faults import FaultQueue
from .ratelimit import RateLimiter
from .store import RunStore


@dataclass
class Asset:
    asset_id: str
    filename: str
    media_type: str
    content_type: str
    data: bytes | None = None


@dataclass
class State:
    settings: Settings
    stats: Stats
    store: RunStore
    api_key: str
    workspace_id: str
    user_id: str
    base_url: str = ""
    faults: FaultQueue = field(default_factory=FaultQueue)
    apps: dict[str, App] = field(default_factory=lambda: dict(APPS))  # edit_app() changes this copy
    limiter: RateLimiter = field(default_factory=RateLimiter)
    media_specs: dict[str, dict[str, Any]] = field(default_factory=dict)  # media id -> spec
    media_cache: dict[str, tuple[bytes, str]] = field(
        default_factory=dict
    )  # media id -> (bytes, content type)
    assets: dict[str, Asset] = field(default_factory=dict)  # asset id -> asset
    upload_tokens: dict[str, str] = field(default_factory=dict)  # upload token -> asset id
    credits_spent: float = 0.0
    closing: asyncio.Event | None = None
    signer: Any = None  # WebhookSigner
    fetcher: Any = None  # InputFetcher

    @staticmethod
    def new_ids(api_key: str) -> tuple[str, str]:
        """Workspace and user ids derived from the key, so they are stable for a pinned key."""
        ns = uuid.uuid5(uuid.NAMESPACE_URL, "lamina-emulator:" + api_key)
        return str(uuid.uuid5(ns, "workspace")), str(uuid.uuid5(ns, "user"))
