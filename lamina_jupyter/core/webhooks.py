"""Verify Lamina webhook deliveries (Ed25519 over "<timestamp>.<raw body>", hex signature).

Stricter than the official TypeScript verifier where it is lenient: the signature must be exactly
128 hex characters, the timestamp 1-12 ASCII digits, the body at most 1 MiB, and only OKP/Ed25519
keys with a 32-byte `x` are used. The time window is symmetric (|now - ts| <= tolerance) like the
official SDK; pair it with `Deduper` so an exact replay inside the window is processed once.
A listener keeps one `Verifier(client)`: the signing keys are fetched once, cached, and refetched at
most once a minute (one fetch at a time) when no cached key verifies, so forged floods cannot
amplify into API calls. `cryptography` is imported inside the functions that need it, never at import time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .errors import SignatureError

SIGNATURE = "x-lamina-webhook-signature"
TIMESTAMP = "x-lamina-webhook-timestamp"
REQUEST_ID = "x-lamina-webhook-request-id"
KEY_ID = "x-lamina-webhook-key-id"  # not sent by Lamina today; checked when present
MAX_BODY = 1024 * 1024
REFETCH_INTERVAL = 60.0  # at most one signing-key refetch per minute: forged floods cannot amplify

_HEX_SIGNATURE = re.compile(r"[0-9a-fA-F]{128}", re.ASCII)
_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)


def _b64url(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def load_keys(jwks: Any) -> dict[str, Any]:
    """kid → Ed25519PublicKey for every usable key in a JWKS dict or a list of JWKs; others ignored."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    items = jwks.get("keys", [jwks] if "kty" in jwks else []) if isinstance(jwks, Mapping) else jwks
    keys: dict[str, Any] = {}
    for index, jwk in enumerate(items if isinstance(items, Iterable) else []):
        if not isinstance(jwk, Mapping) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            continue
        x = jwk.get("x")
        try:
            raw = _b64url(x) if isinstance(x, str) and x.isascii() else b""
        except (binascii.Error, ValueError):
            continue
        if len(raw) != 32:
            continue
        kid_value = jwk.get("kid")
        kid = kid_value if isinstance(kid_value, str) else f"key-{index}"
        keys[kid] = Ed25519PublicKey.from_public_bytes(raw)
    return keys


class _ClientKeys:
    """The signing keys of one client: fetched once, cached by kid, refetched at most once per
    `min_refresh` seconds (single flight: concurrent callers wait for one fetch and share its keys)."""

    def __init__(self, client: Any, clock: Callable[[], float] = time.monotonic,
                 min_refresh: float | None = None) -> None:
        self._client, self._clock, self._min_refresh = client, clock, min_refresh
        self._lock = threading.Lock()
        self.keys: dict[str, Any] = {}
        self.fetches = 0
        self._fetched_at: float | None = None

    def get(self, refresh: bool = False, seen: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """The cached keys; with refresh=True, refetched if the throttle allows, else the keys another
        caller fetched since `seen`, else None (nothing new to try)."""
        interval = REFETCH_INTERVAL if self._min_refresh is None else self._min_refresh
        with self._lock:
            now = self._clock()
            stale = self._fetched_at is None or (refresh and now - self._fetched_at >= interval)
            if not stale:
                return self.keys if not refresh or self.keys is not seen else None
            # The attempt counts even if it fails: an API outage must not turn a flood into fetches.
            self._fetched_at, self.fetches = now, self.fetches + 1
            self.keys = load_keys(self._client.signing_key())
            return self.keys


_CLIENT_KEYS: weakref.WeakKeyDictionary[Any, _ClientKeys] = weakref.WeakKeyDictionary()


def _key_source(keys: Any) -> tuple[dict[str, Any], _ClientKeys | None]:
    if isinstance(keys, Verifier):
        keys = keys.cache
    if isinstance(keys, _ClientKeys):
        return keys.get() or {}, keys
    if hasattr(keys, "signing_key"):
        if hasattr(keys, "__aenter__"):
            raise TypeError("verify() cannot fetch keys through an AsyncClient; pass "
                            "keys=await client.signing_key() instead")
        cache = _CLIENT_KEYS.get(keys)
        if cache is None:
            cache = _CLIENT_KEYS[keys] = _ClientKeys(keys)
        return cache.get() or {}, cache
    return load_keys(keys), None


class Verifier:
    """`verify()` bound to one Client's signing keys, for a webhook listener.

    Keys are fetched on first use and cached; when no cached key verifies a delivery they are
    refetched at most once per `min_refresh` seconds, one fetch at a time, so a flood of forged
    posts cannot turn into a flood of GET /signing-key. `fetches` counts the fetches made."""

    def __init__(self, client: Any, *, tolerance: float = 300, min_refresh: float = REFETCH_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if hasattr(client, "__aenter__") or not hasattr(client, "signing_key"):
            raise TypeError("Verifier needs a sync Client (it calls client.signing_key())")
        self.cache = _ClientKeys(client, clock, min_refresh)
        self.tolerance = tolerance

    @property
    def fetches(self) -> int:
        return self.cache.fetches

    def verify(self, body: bytes | str, headers: Mapping[str, str], *, now: float | None = None,
               require_run_id: bool = True) -> Any:
        return verify(body, headers, self.cache, tolerance=self.tolerance, now=now,
                      require_run_id=require_run_id)

    def __repr__(self) -> str:
        return f"<Verifier keys={sorted(self.cache.keys)} fetches={self.fetches}>"


def _verify_with(keys: Mapping[str, Any], message: bytes, signature: bytes, kid: str | None) -> bool:
    from cryptography.exceptions import InvalidSignature

    for key_id, key in keys.items():
        if kid is not None and not hmac.compare_digest(key_id.encode(), kid.encode()):
            continue
        try:
            key.verify(signature, message)
            return True
        except InvalidSignature:
            continue
    return False


def verify(body: bytes | str, headers: Mapping[str, str], keys: Any, *, tolerance: float = 300,
           now: float | None = None, require_run_id: bool = True) -> Any:
    """Check a delivery and return its parsed JSON payload; raise SignatureError otherwise.

    `keys`: a JWKS dict ({"keys": [...]}), a list of JWKs, or a Client (keys fetched once, cached,
    refetched at most once a minute when no cached key verifies). Run deliveries must carry
    data.runId (legacy: executionId) equal to X-Lamina-Webhook-Request-Id when that header is sent;
    require_run_id=False accepts other signed payloads (e.g. generic test vectors)."""
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    if len(raw) > MAX_BODY:
        raise SignatureError(f"Webhook body is {len(raw)} bytes, over the {MAX_BODY}-byte limit; rejected "
                             "before verification.")
    lower = {str(k).lower(): v for k, v in headers.items()}
    signature_hex, timestamp = lower.get(SIGNATURE), lower.get(TIMESTAMP)
    if not signature_hex or not timestamp:
        missing = [h for h, v in ((SIGNATURE, signature_hex), (TIMESTAMP, timestamp)) if not v]
        raise SignatureError(f"Webhook is missing the {', '.join(missing)} header(s); not from Lamina "
                             "or stripped by a proxy.")
    if not isinstance(signature_hex, str) or not _HEX_SIGNATURE.fullmatch(signature_hex):
        raise SignatureError("Webhook signature is malformed (expected exactly 128 hex characters).")
    if not isinstance(timestamp, str) or not _TIMESTAMP.fullmatch(timestamp):
        raise SignatureError("Webhook timestamp is malformed (expected Unix seconds as 1-12 digits).")
    drift = (time.time() if now is None else now) - int(timestamp)
    if abs(drift) > tolerance:
        where = "in the past" if drift > 0 else "in the future"
        raise SignatureError(f"Webhook timestamp is {abs(drift):.0f} s {where} (tolerance {tolerance:g} s): "
                             "a replay, or a clock skew; check this machine's clock (NTP).")
    kid = lower.get(KEY_ID)
    known, cache = _key_source(keys)
    message = timestamp.encode("ascii") + b"." + raw
    signature = bytes.fromhex(signature_hex)
    if kid is not None and kid not in known and cache is not None:
        known = cache.get(refresh=True, seen=known) or known
    if kid is not None and kid not in known:
        raise SignatureError(f"Webhook names an unknown signing key id {kid[:40]!r}; refresh the signing "
                             "keys (client.signing_key()).")
    ok = _verify_with(known, message, signature, kid)
    if not ok and cache is not None:
        fresh = cache.get(refresh=True, seen=known)
        ok = fresh is not None and _verify_with(fresh, message, signature, kid)
    if not ok:
        reason = "no usable Ed25519 signing key was given" if not known else "the signature does not match"
        raise SignatureError(f"Webhook signature verification failed: {reason}. Do not process this "
                             "delivery.")
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        raise SignatureError("Webhook body is signed but is not JSON.") from None
    data = payload.get("data") if isinstance(payload, dict) else None
    run_id = None
    if isinstance(data, dict):
        run_id = data.get("runId") if isinstance(data.get("runId"), str) else data.get("executionId")
    if not isinstance(run_id, str) and require_run_id:
        raise SignatureError("Webhook payload has no data.runId; not a Lamina run delivery.")
    request_id = lower.get(REQUEST_ID)
    if request_id is not None and not hmac.compare_digest(str(request_id).encode(), str(run_id).encode()):
        raise SignatureError("Webhook X-Lamina-Webhook-Request-Id does not match data.runId; rejected.")
    return payload


class Deduper:
    """Remembers deliveries for 2 × tolerance so an exact replay inside the window is seen once.
    Legitimate redeliveries are re-signed (new timestamp), so `seen` passes them; `run_seen` then
    keeps processing idempotent per run (a redelivery after a lost acknowledgement is processed once)."""

    def __init__(self, ttl: float = 600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl, self._clock = ttl, clock
        self._seen: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def seen(self, body: bytes | str, headers: Mapping[str, str]) -> bool:
        """True when this exact delivery was already recorded; records it otherwise. Keyed on what the
        signature covers (timestamp and body) only: a replay can drop or change the unsigned
        request-id header, so it must not make a delivery look new."""
        raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        lower = {str(k).lower(): v for k, v in headers.items()}
        key = (str(lower.get(TIMESTAMP, "")), hashlib.sha256(raw).hexdigest())
        return self._remember(key)

    def run_seen(self, payload: Any) -> bool:
        """True when a verified delivery for this payload's run (data.runId) and status was already
        processed; records it otherwise. Payloads without a run id are never deduplicated here."""
        data = payload.get("data") if isinstance(payload, dict) else None
        run_id = (data.get("runId") or data.get("executionId")) if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(run_id, str):
            return False
        return self._remember(("run", run_id, str(data.get("status"))))

    def _remember(self, key: tuple[str, ...]) -> bool:
        with self._lock:
            now = self._clock()
            self._seen = {k: t for k, t in self._seen.items() if now - t < self._ttl}
            if key in self._seen:
                return True
            self._seen[key] = now
            return False
