"""Webhook signing (Ed25519 over `<ts>.<raw body>`, hex) and delivery with Lamina's retry schedule.

On a terminal run the status payload `{"data": {...}}` is POSTed to the run's webhook URL; a non-2xx
answer or no answer within 15 s is retried after 5 s, 30 s and 2 min (each scaled by time_factor),
every attempt freshly signed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .config import Settings, Stats
from .run import Run

KID = "lamina-webhook-v1"
RETRY_DELAYS = (5.0, 30.0, 120.0)
ATTEMPT_TIMEOUT = 15.0


class WebhookSigner:
    def __init__(self, seed: bytes | None = None) -> None:
        if seed is not None and len(seed) != 32:
            raise ValueError("signing_seed must be exactly 32 bytes (an Ed25519 private key seed)")
        self.key = Ed25519PrivateKey.from_private_bytes(seed) if seed else Ed25519PrivateKey.generate()
        self.public_raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def jwk(self) -> dict[str, str]:
        x = base64.urlsafe_b64encode(self.public_raw).rstrip(b"=").decode()
        return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": KID, "use": "sig", "alg": "EdDSA"}

    def sign(self, timestamp: int, body: bytes) -> str:
        return self.key.sign(str(timestamp).encode() + b"." + body).hex()


@dataclass
class Attempt:
    run_id: str
    url: str
    attempt: int
    status: int | None
    error: str | None
    at: float


class WebhookDeliverer:
    def __init__(self, signer: WebhookSigner, settings: Settings, stats: Stats, user_id: str) -> None:
        self.signer, self.settings, self.stats, self.user_id = signer, settings, stats, user_id
        self.client: httpx.AsyncClient | None = None
        self.tasks: set[asyncio.Task] = set()
        self.log: list[Attempt] = []

    def deliver(self, run: Run) -> None:
        if not run.webhook_url:
            return
        body = json.dumps({"data": run.to_json()}, separators=(",", ":")).encode()
        task = asyncio.ensure_future(self._deliver(run.id, run.webhook_url, body))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _deliver(self, run_id: str, url: str, body: bytes) -> None:
        if self.client is None:
            self.client = httpx.AsyncClient()
        delays = (0.0, *RETRY_DELAYS)
        for number, delay in enumerate(delays, start=1):
            if delay:
                await asyncio.sleep(delay * self.settings.time_factor)
            ok = await self._attempt(run_id, url, body, number)
            if ok:
                return

    async def _attempt(self, run_id: str, url: str, body: bytes, number: int) -> bool:
        assert self.client is not None
        ts = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "X-Lamina-Webhook-Signature": self.signer.sign(ts, body),
            "X-Lamina-Webhook-Timestamp": str(ts),
            "X-Lamina-Webhook-Request-Id": run_id,
            "X-Lamina-Webhook-User-Id": self.user_id,
        }
        self.stats.webhook_deliveries += 1
        status, error = None, None
        try:
            response = await self.client.post(
                url, content=body, headers=headers, timeout=ATTEMPT_TIMEOUT * self.settings.time_factor
            )
            status = response.status_code
        except httpx.HTTPError as exc:
            error = f"{exc.__class__.__name__}: {exc}"
        self.log.append(Attempt(run_id, url, number, status, error, time.time()))
        return status is not None and 200 <= status < 300

    def attempts(self) -> list[dict[str, Any]]:
        return [vars(a).copy() for a in self.log]

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.client is not None:
            await self.client.aclose()
            self.client = None
