"""Webhook key handling at unit level: the pinned key pair, and the client key cache's throttle and
refetch-on-rotation with a scripted key source. Every acceptance and rejection scenario (pinned
vectors, forgeries, timestamps, replays, floods) lives in tests/reliability/test_rel_webhooks.py."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lamina_jupyter import SignatureError
from lamina_jupyter.core.webhooks import verify

SVIX_KEYPAIR = base64.b64decode(
    "6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==")
JWK = {"kty": "OKP", "crv": "Ed25519", "x": "1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4",
       "kid": "lamina-webhook-v1"}
JWKS = {"keys": [JWK]}
VECTOR_2 = ("1767225600", b'{"event":"run.completed","data":{"runId":"run_vec_001","status":"completed"}}',
            "58b955503a08309882ce2632185cf345a6a0e1613a22ad3ec65aa11665008b2a1f9183a01faf4b7c06304eafb1494324e3"
            "4f38f0dd294e52dcdb26163176c50d")
SIGNER = Ed25519PrivateKey.from_private_bytes(SVIX_KEYPAIR[:32])


def headers(ts, sig, request_id=None):
    h = {"X-Lamina-Webhook-Signature": sig, "X-Lamina-Webhook-Timestamp": ts}
    if request_id is not None:
        h["X-Lamina-Webhook-Request-Id"] = request_id
    return h


def test_the_derived_public_key_is_the_pinned_jwk():
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = SIGNER.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == JWK["x"]


TS, BODY, SIG = VECTOR_2
NOW = int(TS)


def _flip(text: str, index: int) -> str:
    return text[:index] + ("0" if text[index] != "0" else "1") + text[index + 1:]


class FakeKeyClient:
    """Stands in for Client.signing_key(): counts fetches, serves a rotating key set."""

    def __init__(self, jwks):
        self.jwks, self.fetches = jwks, 0

    def signing_key(self):
        self.fetches += 1
        return self.jwks


def test_client_keys_are_fetched_once_and_refetched_at_most_once_per_minute():
    client = FakeKeyClient({"keys": []})
    with pytest.raises(SignatureError):
        verify(BODY, headers(TS, SIG), client, now=NOW)
    assert client.fetches == 1  # first fetch; the throttle blocks an immediate refetch
    for _ in range(20):
        with pytest.raises(SignatureError):
            verify(BODY, headers(TS, _flip(SIG, 3)), client, now=NOW)
    assert client.fetches == 1


def test_client_keys_refetch_finds_a_rotated_key(monkeypatch):
    from lamina_jupyter.core import webhooks

    monkeypatch.setattr(webhooks, "REFETCH_INTERVAL", 0.0)
    client = FakeKeyClient({"keys": []})
    with pytest.raises(SignatureError):
        verify(BODY, headers(TS, SIG), client, now=NOW)
    client.jwks = JWKS
    assert verify(BODY, headers(TS, SIG), client, now=NOW)["data"]["runId"] == "run_vec_001"
    fetches = client.fetches
    assert verify(BODY, headers(TS, SIG), client, now=NOW) and client.fetches == fetches  # cached now


def test_deduper_sees_an_exact_replay_even_without_the_unsigned_request_id_header():
    """The request-id header is not signed: an attacker replaying a delivery can drop or change it,
    so the exact-replay cache must key on what the signature covers (timestamp and body)."""
    from lamina_jupyter.core.webhooks import Deduper

    ts, body, sig = VECTOR_2
    dedupe = Deduper()
    assert not dedupe.seen(body, headers(ts, sig, request_id="run_vec_001"))
    assert dedupe.seen(body, headers(ts, sig))
    assert dedupe.seen(body, headers(ts, sig, request_id="something-else"))
    assert not dedupe.seen(body, headers(str(int(ts) + 5), sig))  # a re-signed redelivery is new here
