"""Webhook verification: the pinned vectors from reliability.md and every rejection case."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lamina_jupyter import SignatureError
from lamina_jupyter.webhooks import Deduper, verify

SVIX_KEYPAIR = base64.b64decode(
    "6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==")
JWK = {"kty": "OKP", "crv": "Ed25519", "x": "1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4",
       "kid": "lamina-webhook-v1"}
JWKS = {"keys": [JWK]}
VECTOR_1 = ("1614265330", b'{"test": 2432232314}',
            "74c5c093b6b246b04bd120355531cb87714d6015542694222b1ac4b0fdec26330ffa3675ee9d1d70e3637a1488a9bc92a"
            "20f58dae57d03f95ade921b5445ed03")
VECTOR_2 = ("1767225600", b'{"event":"run.completed","data":{"runId":"run_vec_001","status":"completed"}}',
            "58b955503a08309882ce2632185cf345a6a0e1613a22ad3ec65aa11665008b2a1f9183a01faf4b7c06304eafb1494324e3"
            "4f38f0dd294e52dcdb26163176c50d")
SIGNER = Ed25519PrivateKey.from_private_bytes(SVIX_KEYPAIR[:32])


def headers(ts, sig, request_id=None):
    h = {"X-Lamina-Webhook-Signature": sig, "X-Lamina-Webhook-Timestamp": ts}
    if request_id is not None:
        h["X-Lamina-Webhook-Request-Id"] = request_id
    return h


def sign(ts: str, body: bytes, key=SIGNER) -> str:
    return key.sign(ts.encode() + b"." + body).hex()


def test_the_derived_public_key_is_the_pinned_jwk():
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = SIGNER.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == JWK["x"]


def test_pinned_vector_1_verifies():
    ts, body, sig = VECTOR_1
    assert verify(body, headers(ts, sig), JWKS, now=int(ts) + 5, require_run_id=False) == {"test": 2432232314}


def test_pinned_vector_2_verifies_with_request_id_and_as_a_key_list():
    ts, body, sig = VECTOR_2
    payload = verify(body, headers(ts, sig, "run_vec_001"), [JWK], now=int(ts))
    assert payload["data"]["runId"] == "run_vec_001"
    assert verify(body.decode(), headers(ts, sig.upper()), JWKS, now=int(ts))["event"] == "run.completed"


def test_rotation_second_key_of_the_set_verifies():
    other = Ed25519PrivateKey.generate()
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    x = base64.urlsafe_b64encode(other.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).rstrip(b"=")
    jwks = {"keys": [JWK, {"kty": "OKP", "crv": "Ed25519", "x": x.decode(), "kid": "lamina-webhook-v2"}]}
    ts, body = VECTOR_2[0], VECTOR_2[1]
    assert verify(body, headers(ts, sign(ts, body, other)), jwks, now=int(ts))


def _flip(text: str, index: int) -> str:
    return text[:index] + ("0" if text[index] != "0" else "1") + text[index + 1:]


TS, BODY, SIG = VECTOR_2
NOW = int(TS)


@pytest.mark.parametrize("body,sig,why", [
    (BODY.replace(b"completed", b"completex", 1), SIG, "body bit flipped"),
    (BODY, _flip(SIG, 10), "signature flipped"),
    (json.dumps(json.loads(BODY)).encode(), SIG, "re-serialised JSON"),
    (BODY, sign(TS, BODY, Ed25519PrivateKey.generate()), "attacker key"),
])
def test_bad_signatures_are_rejected(body, sig, why):
    with pytest.raises(SignatureError, match="verification failed"):
        verify(body, headers(TS, sig), JWKS, now=NOW)


@pytest.mark.parametrize("sig", [SIG[:-1], SIG + "0", SIG[:-2] + "zz", SIG + "zz", SIG[:64] + " " + SIG[65:],
                                 SIG[:-1] + "٣", base64.b64encode(bytes.fromhex(SIG)).decode(), ""])
def test_malformed_signatures_are_rejected(sig):
    with pytest.raises(SignatureError):
        verify(BODY, headers(TS, sig), JWKS, now=NOW)


@pytest.mark.parametrize("ts", ["1_767_225_600", " 1767225600", "١٧٦٧٢٢٥٦٠٠", "nan", "1e9", "-5", "",
                                "1767225600abc", "1234567890123"])
def test_malformed_timestamps_are_rejected(ts):
    with pytest.raises(SignatureError):
        verify(BODY, headers(ts, SIG), JWKS, now=NOW)


@pytest.mark.parametrize("offset,ok", [(300, True), (-300, True), (301, False), (-301, False)])
def test_window_is_300_s_each_way_and_states_the_skew(offset, ok):
    ts = str(NOW + offset)
    hdrs = headers(ts, sign(ts, BODY))
    if ok:
        assert verify(BODY, hdrs, JWKS, now=NOW)
    else:
        with pytest.raises(SignatureError, match="301 s in the (past|future)"):
            verify(BODY, hdrs, JWKS, now=NOW)


def test_request_id_mismatch_missing_run_id_and_missing_headers_are_rejected():
    with pytest.raises(SignatureError, match="Request-Id"):
        verify(BODY, headers(TS, SIG, "someone-else"), JWKS, now=NOW)
    body = b'{"data":{"status":"completed"}}'
    with pytest.raises(SignatureError, match="runId"):
        verify(body, headers(TS, sign(TS, body)), JWKS, now=NOW)
    with pytest.raises(SignatureError, match="missing"):
        verify(BODY, {"X-Lamina-Webhook-Timestamp": TS}, JWKS, now=NOW)


def test_unknown_key_id_and_unusable_keys_are_rejected():
    with pytest.raises(SignatureError, match="unknown signing key id"):
        verify(BODY, {**headers(TS, SIG), "X-Lamina-Webhook-Key-Id": "lamina-webhook-v9"}, JWKS, now=NOW)
    bad_keys = {"keys": [{"kty": "RSA", "n": "x", "e": "AQAB"},
                         {"kty": "OKP", "crv": "X25519", "x": JWK["x"]},
                         {"kty": "OKP", "crv": "Ed25519", "x": JWK["x"][:-4]}]}
    with pytest.raises(SignatureError, match="no usable Ed25519"):
        verify(BODY, headers(TS, SIG), bad_keys, now=NOW)


def test_oversized_body_is_rejected_before_verification():
    big = b"{" + b" " * (1024 * 1024) + b"}"
    with pytest.raises(SignatureError, match="limit"):
        verify(big, headers(TS, sign(TS, big)), JWKS, now=NOW)


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
    from lamina_jupyter import webhooks

    monkeypatch.setattr(webhooks, "REFETCH_INTERVAL", 0.0)
    client = FakeKeyClient({"keys": []})
    with pytest.raises(SignatureError):
        verify(BODY, headers(TS, SIG), client, now=NOW)
    client.jwks = JWKS
    assert verify(BODY, headers(TS, SIG), client, now=NOW)["data"]["runId"] == "run_vec_001"
    fetches = client.fetches
    assert verify(BODY, headers(TS, SIG), client, now=NOW) and client.fetches == fetches  # cached now


def test_deduper_catches_exact_replays_not_redeliveries():
    dedupe = Deduper()
    assert not dedupe.seen(BODY, headers(TS, SIG, "run_vec_001"))
    assert dedupe.seen(BODY, headers(TS, SIG, "run_vec_001"))
    ts2 = str(NOW + 5)
    assert not dedupe.seen(BODY, headers(ts2, sign(ts2, BODY), "run_vec_001"))
