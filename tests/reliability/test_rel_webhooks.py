"""Fault matrix C (webhooks, rows 17-21): pinned and live deliveries are accepted, every forgery is
rejected with SignatureError and nothing else, replays and redeliveries are processed once, and a
forged flood cannot turn into signing-key fetches.

Live deliveries come from the emulator (real Ed25519 signatures, Lamina's retry schedule) to a
loopback listener written the way a user writes one: `webhooks.Verifier(client)` + `Deduper`.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import example, given, settings
from hypothesis import strategies as st
from suite import CAPTION_WRITER, route_count

from lamina_jupyter import LaminaError, SignatureError
from lamina_jupyter.core.webhooks import (
    KEY_ID,
    MAX_BODY,
    REQUEST_ID,
    SIGNATURE,
    TIMESTAMP,
    Deduper,
    Verifier,
    verify,
)

SVIX_SEED = base64.b64decode(
    "6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==")[:32]
SIGNER = Ed25519PrivateKey.from_private_bytes(SVIX_SEED)
ATTACKER = Ed25519PrivateKey.generate()
JWK = {"kty": "OKP", "crv": "Ed25519", "x": "1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4",
       "kid": "lamina-webhook-v1"}
JWKS = {"keys": [JWK]}
VECTOR_1 = ("1614265330", b'{"test": 2432232314}',
            "74c5c093b6b246b04bd120355531cb87714d6015542694222b1ac4b0fdec26330ffa3675ee9d1d70e3637a1488a9bc92a"
            "20f58dae57d03f95ade921b5445ed03")
TS = "1767225600"
BODY = b'{"event":"run.completed","data":{"runId":"run_vec_001","status":"completed"}}'
SIG = ("58b955503a08309882ce2632185cf345a6a0e1613a22ad3ec65aa11665008b2a1f9183a01faf4b7c06304eafb1494"
       "324e34f38f0dd294e52dcdb26163176c50d")
NOW = int(TS)
SIGNING_ROUTE = "GET /v1/webhooks/signing-key"


def jwk_of(key: Ed25519PrivateKey, kid: str, **extra: str) -> dict:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, **extra}


def sign(ts: str, body: bytes, key: Ed25519PrivateKey = SIGNER) -> str:
    return key.sign(ts.encode() + b"." + body).hex()


def headers(ts: str, sig: str, request_id: str | None = None, **extra: str) -> dict[str, str]:
    h = {"X-Lamina-Webhook-Signature": sig, "X-Lamina-Webhook-Timestamp": ts, **extra}
    if request_id is not None:
        h["X-Lamina-Webhook-Request-Id"] = request_id
    return h


def accept(scenario, body, hdrs, keys, **kw):
    """A genuine delivery: must verify; counted as sent, and as accepted only once it did."""
    scenario.add(valid_sent=1)
    payload = verify(body, hdrs, keys, **kw)
    scenario.add(valid_accepted=1)
    return payload


def reject(scenario, body, hdrs, keys, **kw) -> SignatureError:
    """A forged or malformed delivery: must raise SignatureError (any other outcome fails the test)."""
    scenario.add(forged_tried=1)
    with pytest.raises(SignatureError) as info:
        verify(body, hdrs, keys, **kw)
    scenario.add(forged_rejected=1)
    return info.value


# -- 17: accepted --------------------------------------------------------------------------------------
def test_pinned_vectors_and_a_rotated_key_set_are_accepted(scenario):
    ts, body, sig = VECTOR_1
    assert accept(scenario, body, headers(ts, sig), JWKS, now=int(ts) + 5, require_run_id=False) == \
        {"test": 2432232314}
    payload = accept(scenario, BODY, headers(TS, SIG, "run_vec_001"), [JWK], now=NOW)
    assert payload["data"]["runId"] == "run_vec_001"
    assert accept(scenario, BODY.decode(), headers(TS, SIG.upper()), JWKS, now=NOW) == payload
    v2 = Ed25519PrivateKey.generate()
    rotated = {"keys": [JWK, jwk_of(v2, "lamina-webhook-v2")]}
    accept(scenario, BODY, headers(TS, sign(TS, BODY, v2)), rotated, now=NOW)  # no key id: every key is tried
    accept(scenario, BODY, headers(TS, sign(TS, BODY, v2), **{KEY_ID: "lamina-webhook-v2"}), rotated, now=NOW)


@pytest.mark.parametrize("offset", [300, -300, 0])
def test_timestamp_window_edges_are_accepted(scenario, offset):
    ts = str(NOW + offset)
    accept(scenario, BODY, headers(ts, sign(ts, BODY)), JWKS, now=NOW)


class Listener:
    """A loopback webhook endpoint written the way the README suggests: verify, drop exact replays,
    process each run once. The first `lose_acks` verified deliveries get a 500 whatever happened to
    them (an acknowledgement lost on the way back), so Lamina redelivers with a fresh signature."""

    def __init__(self, verifier: Verifier, lose_acks: int = 0) -> None:
        self.verifier, self.dedupe, self.lose_acks = verifier, Deduper(), lose_acks
        self.outcomes: Counter = Counter()
        self.processed: Counter = Counter()
        self.deliveries: list[tuple[dict, bytes]] = []
        self.lock = threading.Lock()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (stdlib name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(listener.handle(dict(self.headers), body))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def handle(self, hdrs: dict, body: bytes) -> int:
        try:
            payload = self.verifier.verify(body, hdrs)
        except SignatureError:
            return self.count("rejected", 400)
        except LaminaError:  # the signing keys could not be fetched: let Lamina redeliver later
            return self.count("key_fetch_failed", 503)
        with self.lock:
            self.deliveries.append((hdrs, body))
            status = 500 if len(self.deliveries) <= self.lose_acks else 200
        if self.dedupe.seen(body, hdrs):
            return self.count("replay", status)
        if self.dedupe.run_seen(payload):
            return self.count("redelivery", status)
        with self.lock:
            self.processed[payload["data"]["runId"]] += 1
        return self.count("processed", status)

    def count(self, outcome: str, status: int) -> int:
        with self.lock:
            self.outcomes[outcome] += 1
        return status

    def __enter__(self) -> Listener:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, outcomes: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while sum(self.outcomes.values()) < outcomes and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sum(self.outcomes.values()) >= outcomes, self.outcomes


def test_live_deliveries_signed_by_the_emulator_are_accepted(scenario, emulator, client):
    before = route_count(emulator, SIGNING_ROUTE)
    verifier = Verifier(client)
    with Listener(verifier) as listener:
        runs = [client.run(CAPTION_WRITER, {"Topic": topic}, webhook=listener.url, timeout=30)
                for topic in ("hooks one", "hooks two")]
        failed = client.start(CAPTION_WRITER, {"Topic": "hooks #fail"}, webhook=listener.url)
        client.wait(failed, timeout=30)
        listener.wait_for(3)
    attempts = [a for a in emulator.webhook_attempts() if a["url"] == listener.url]
    scenario.add(valid_sent=len(attempts), valid_accepted=listener.outcomes["processed"])
    assert listener.outcomes == {"processed": 3} and [a["status"] for a in attempts] == [200] * 3
    assert set(listener.processed) == {r.id for r in runs} | {failed.id}
    assert [jwk["x"] for jwk in client.signing_key()["keys"]] == [emulator.signing_jwk()["x"]]
    assert verifier.fetches == 1 and route_count(emulator, SIGNING_ROUTE) - before == 2  # + the line above


# -- 18, 19, 20: rejected ------------------------------------------------------------------------------
def _flip(text: str, index: int) -> str:
    return text[:index] + ("0" if text[index] != "0" else "1") + text[index + 1:]


def _signed(ts: str, body: bytes = BODY, **extra: str) -> tuple[bytes, dict, dict]:
    """A delivery signed by the real key over whatever `ts` says: only the check under test can reject."""
    return body, headers(ts, sign(ts, body) if ts.isascii() else "0" * 128, **extra), JWKS


def _sig(sig: str) -> tuple[bytes, dict, dict]:
    return BODY, headers(TS, sig), JWKS


V2 = Ed25519PrivateKey.generate()
FORGERIES = {
    "body-bit-flipped": (BODY.replace(b"completed", b"completex", 1), headers(TS, SIG), JWKS),
    "signature-bit-flipped": _sig(_flip(SIG, 10)),
    "reserialised-json": (json.dumps(json.loads(BODY)).encode(), headers(TS, SIG), JWKS),
    "attacker-key": _sig(sign(TS, BODY, ATTACKER)),
    "unknown-kid": (BODY, headers(TS, SIG, **{KEY_ID: "lamina-webhook-v9"}), JWKS),
    "removed-v1-key": (BODY, headers(TS, SIG), {"keys": [jwk_of(V2, "lamina-webhook-v2")]}),
    "key-offered-in-request": (BODY, headers(TS, sign(TS, BODY, ATTACKER),
                                             **{"X-Lamina-Webhook-Jwk": json.dumps(jwk_of(ATTACKER, "evil")),
                                                KEY_ID: "evil"}), JWKS),
    "stale-301": _signed(str(NOW - 301)),
    "future-301": _signed(str(NOW + 301)),
    "missing-signature": (BODY, {"X-Lamina-Webhook-Timestamp": TS}, JWKS),
    "missing-timestamp": (BODY, {"X-Lamina-Webhook-Signature": SIG}, JWKS),
    "missing-both": (BODY, {"Content-Type": "application/json"}, JWKS),
    "sig-odd-length": _sig(SIG[:-1]),
    "sig-129": _sig(SIG + "0"),
    "sig-trailing-zz": _sig(SIG[:-2] + "zz"),
    "sig-plus-zz": _sig(SIG + "zz"),
    "sig-space": _sig(SIG[:64] + " " + SIG[65:]),
    "sig-spaces-between-pairs": _sig(" ".join(SIG[i:i + 2] for i in range(0, 128, 2))),
    "sig-non-ascii": _sig(SIG[:-1] + "٣"),
    "sig-base64": _sig(base64.b64encode(bytes.fromhex(SIG)).decode()),
    "sig-empty": _sig(""),
    "ts-underscores": _signed("1_767_225_600"),
    "ts-leading-space": _signed(" 1767225600"),
    "ts-arabic-indic": _signed("١٧٦٧٢٢٥٦٠٠"),
    "ts-nan": _signed("nan"),
    "ts-exponent": _signed("1e9"),
    "ts-negative": _signed("-5"),
    "ts-empty": _signed(""),
    "ts-trailing-junk": _signed("1767225600abc"),
    "request-id-not-run-id": _signed(TS, **{"X-Lamina-Webhook-Request-Id": "run_someone_else"}),
    "run-id-missing": _signed(TS, b'{"event":"run.completed","data":{"status":"completed"}}'),
}
MESSAGES = {"stale-301": "301 s in the past", "future-301": "301 s in the future", "missing-both": "missing",
            "unknown-kid": "unknown signing key id", "request-id-not-run-id": "Request-Id",
            "run-id-missing": "runId"}


@pytest.mark.parametrize("case", list(FORGERIES))
def test_forged_and_malformed_deliveries_are_rejected(scenario, case):
    body, hdrs, keys = FORGERIES[case]
    error = reject(scenario, body, hdrs, keys, now=NOW)
    assert MESSAGES.get(case, "") in str(error)


def test_oversized_body_is_rejected_before_any_verification(scenario, client, emulator):
    big = b'{"data":{"runId":"run_big","pad":"' + b"x" * (2 * 1024 * 1024) + b'"}}'
    ts = str(int(time.time()))
    verifier = Verifier(client)
    started = time.perf_counter()
    error = reject(scenario, big, headers(ts, sign(ts, big)), verifier)
    assert f"over the {MAX_BODY}-byte limit" in str(error) and "before verification" in str(error)
    assert verifier.fetches == 0 and time.perf_counter() - started < 0.5  # no key fetched, nothing hashed


def test_key_set_abuse_non_ed25519_keys_are_ignored(scenario):
    """The attacker's public key listed as RSA, X25519, Ed448 or with a bad `x` is never used."""
    x = jwk_of(ATTACKER, "a")["x"]
    hostile = [{"kty": "RSA", "n": x, "e": "AQAB", "kid": "rsa"},
               {"kty": "OKP", "crv": "X25519", "x": x, "kid": "x"},
               {"kty": "OKP", "crv": "Ed448", "x": x, "kid": "ed448"}, {"kty": "oct", "k": x, "kid": "hmac"},
               {"kty": "OKP", "crv": "Ed25519", "x": x[:-4], "kid": "short"},
               {"kty": "OKP", "crv": "Ed25519", "x": x + "AAAA", "kid": "long"},
               {"kty": "OKP", "crv": "Ed25519", "x": "٣" * 43, "kid": "non-ascii"}, "not-a-jwk", None]
    forged = sign(TS, BODY, ATTACKER)
    reject(scenario, BODY, headers(TS, forged), {"keys": hostile}, now=NOW)
    reject(scenario, BODY, headers(TS, forged), {"keys": [*hostile, JWK]}, now=NOW)
    for kid in ("rsa", "x", "short"):
        reject(scenario, BODY, headers(TS, forged, **{KEY_ID: kid}), {"keys": [*hostile, JWK]}, now=NOW)
    accept(scenario, BODY, headers(TS, SIG), {"keys": [*hostile, JWK]}, now=NOW)


_HEADER_NAMES = st.sampled_from([SIGNATURE, TIMESTAMP, REQUEST_ID, KEY_ID, SIGNATURE.upper(), "content-type"])
_HEX = st.text("0123456789abcdefABCDEF", min_size=0, max_size=200)
_VALUES = st.one_of(st.text(max_size=140), _HEX, st.just(SIG),
                    st.sampled_from([TS, str(NOW - 300), "run_vec_001", "lamina-webhook-v1"]))
_MUTATED = st.builds(lambda i, b: BODY[:i] + bytes([b]) + BODY[i + 1:], st.integers(0, len(BODY) - 1),
                     st.integers(0, 255))


@settings(max_examples=500, deadline=None, database=None, derandomize=True)
@given(body=st.one_of(st.binary(max_size=300), st.just(BODY), st.text(max_size=200), _MUTATED),
       hdrs=st.dictionaries(_HEADER_NAMES, _VALUES, max_size=6))
@example(body=BODY, hdrs={SIGNATURE: SIG[:-1] + "٣", TIMESTAMP: TS})
@example(body=BODY, hdrs={SIGNATURE: SIG, TIMESTAMP: "١٧٦٧٢٢٥٦٠٠"})
@example(body=BODY, hdrs={SIGNATURE: SIG, TIMESTAMP: TS, REQUEST_ID: "ٮ"})
@example(body=BODY, hdrs={SIGNATURE: SIG, TIMESTAMP: TS, KEY_ID: "\udcff"})
@example(body=b"[" * 100_000, hdrs={SIGNATURE: SIG, TIMESTAMP: TS})
def _fuzz_one(body, hdrs):
    outcome = "accepted"
    try:
        verify(body, hdrs, JWKS, now=NOW)
    except SignatureError:
        outcome = "rejected"
    except Exception as exc:  # noqa: BLE001 - the point is to count anything else that escapes
        outcome = type(exc).__name__
    lower = {k.lower(): v for k, v in hdrs.items()}
    raw = body.encode() if isinstance(body, str) else body
    genuine = raw == BODY and lower.get(SIGNATURE, "").lower() == SIG and lower.get(TIMESTAMP) == TS
    _FUZZ[("genuine" if genuine else "forged", outcome)] += 1  # only a genuine delivery may verify


_FUZZ: Counter = Counter()


def test_hypothesis_sweep_only_signature_errors_escape(scenario):
    _FUZZ.clear()
    _fuzz_one()
    forged = {outcome: n for (kind, outcome), n in _FUZZ.items() if kind == "forged"}
    unexpected = sum(n for outcome, n in forged.items() if outcome not in ("rejected", "accepted"))
    scenario.add(fuzz_examples=sum(_FUZZ.values()), forged_tried=sum(forged.values()),
                 forged_rejected=forged.get("rejected", 0), unexpected_exceptions=unexpected)
    assert sum(_FUZZ.values()) >= 500
    assert forged == {"rejected": sum(forged.values())}, forged
    assert {outcome for (kind, outcome) in _FUZZ if kind == "genuine"} <= {"accepted", "rejected"}


# -- 20: replays and redeliveries ----------------------------------------------------------------------
def test_replay_and_redelivery_are_processed_once(scenario, emulator, client):
    """The listener processes the delivery but its 200 is lost three times: Lamina redelivers after
    5 s, 30 s, 2 min (here x0.01), re-signed; then an attacker replays the first delivery verbatim."""
    emulator.configure(time_factor=0.01)
    with Listener(Verifier(client), lose_acks=3) as listener:
        run = client.run(CAPTION_WRITER, {"Topic": "redelivered"}, webhook=listener.url, timeout=30)
        listener.wait_for(4)
        hdrs, body = listener.deliveries[0]
        replay = httpx.post(listener.url, content=body,
                            headers={k: v for k, v in hdrs.items() if k.lower().startswith("x-lamina")})
    attempts = [a for a in emulator.webhook_attempts() if a["run_id"] == run.id]
    timestamps = {{k.lower(): v for k, v in h.items()}[TIMESTAMP] for h, _ in listener.deliveries}
    scenario.add(valid_sent=len(attempts) + 1, valid_accepted=len(listener.deliveries),
                 replays_processed_twice=sum(listener.processed.values()) - len(listener.processed))
    assert [a["status"] for a in attempts] == [500, 500, 500, 200] and replay.status_code == 200
    assert listener.processed == {run.id: 1} and len(listener.deliveries) == 5
    assert listener.outcomes["processed"] == 1 and listener.outcomes["replay"] >= 1
    assert listener.outcomes["redelivery"] >= 1
    assert len(timestamps) >= 2  # the 4th attempt (about 1.5 s after the 1st) carries a new timestamp


# -- 21: no amplification ------------------------------------------------------------------------------
def _flood(url: str, n: int) -> list[int]:
    def post(i: int) -> int:
        ts = str(int(time.time()))
        data = {"runId": f"run_forged_{i}", "status": "completed"}
        body = json.dumps({"event": "run.completed", "data": data}, separators=(",", ":")).encode()
        hdrs = headers(ts, sign(ts, body, ATTACKER), f"run_forged_{i}")
        return http.post(url, content=body, headers=hdrs).status_code

    with httpx.Client(timeout=10) as http, ThreadPoolExecutor(8) as pool:
        return list(pool.map(post, range(n)))


def test_forged_flood_costs_at_most_one_signing_key_fetch(scenario, emulator, client):
    before = route_count(emulator, SIGNING_ROUTE)
    clock = [0.0]
    verifier = Verifier(client, clock=lambda: clock[0])
    with Listener(verifier) as listener:
        statuses = _flood(listener.url, 1000)  # cold cache: 8 concurrent first fetches become one
        flood_fetches = route_count(emulator, SIGNING_ROUTE) - before
        clock[0] += 61  # a minute later, a forgery may trigger one refetch (the key might have rotated) ...
        statuses += _flood(listener.url, 200)  # ... and only one
        run = client.run(CAPTION_WRITER, {"Topic": "after the flood"}, webhook=listener.url, timeout=30)
        listener.wait_for(1201)
    scenario.add(forged_tried=1200, forged_rejected=statuses.count(400), valid_sent=1,
                 valid_accepted=listener.processed[run.id])
    assert statuses == [400] * 1200 and listener.processed == {run.id: 1}
    assert flood_fetches <= 1 and verifier.fetches == 2
    assert route_count(emulator, SIGNING_ROUTE) - before == 2


def test_flood_while_the_signing_key_endpoint_fails_does_not_amplify(scenario, emulator, client):
    emulator.inject("status", route="GET /v1/webhooks/signing-key", times=None, status=503)
    before = route_count(emulator, SIGNING_ROUTE)
    with Listener(Verifier(client)) as listener:
        statuses = _flood(listener.url, 300)
    requests = route_count(emulator, SIGNING_ROUTE) - before
    scenario.add(forged_tried=300, forged_rejected=statuses.count(400) + statuses.count(503))
    assert statuses.count(503) == 1 and statuses.count(400) == 299  # one failed fetch, then no keys: rejected
    assert requests <= 1 + client.settings.max_retries
