"""Webhook signing (pinned vectors, verified with PyNaCl) and delivery with the retry schedule."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from emulator_helpers import TEXT_TO_IMAGE, start, wait
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from teammates import private_emulator

from lamina_jupyter.emulator import Emulator

SVIX_KEYPAIR = base64.b64decode(
    "6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg=="
)
VECTORS = [
    (
        1614265330,
        b'{"test": 2432232314}',
        "74c5c093b6b246b04bd120355531cb87714d6015542694222b1ac4b0fdec26330ffa3675ee9d1d70e3637a1488a9bc92a20f58dae57d03f95ade921b5445ed03",
    ),
    (
        1767225600,
        b'{"event":"run.completed","data":{"runId":"run_vec_001","status":"completed"}}',
        "58b955503a08309882ce2632185cf345a6a0e1613a22ad3ec65aa11665008b2a1f9183a01faf4b7c06304eafb1494324e34f38f0dd294e52dcdb26163176c50d",
    ),
]


class Receiver:
    """A loopback webhook endpoint answering with scripted statuses (then 200), recording every POST."""

    def __init__(self, statuses=(), delays=()) -> None:
        self.statuses, self.delays = list(statuses), list(delays)
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (stdlib name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(
                    {"headers": dict(self.headers), "body": body, "at": time.monotonic()}
                )
                if receiver.delays:
                    time.sleep(receiver.delays.pop(0))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.received) >= count, f"only {len(self.received)} of {count} deliveries arrived"
        return self.received


def verify(jwk: dict, headers: dict, body: bytes) -> None:
    """Independent verification with PyNaCl (libsodium), not the emulator's cryptography code."""
    raw = base64.urlsafe_b64decode(jwk["x"] + "==")
    message = headers["X-Lamina-Webhook-Timestamp"].encode() + b"." + body
    VerifyKey(raw).verify(message, bytes.fromhex(headers["X-Lamina-Webhook-Signature"]))


@pytest.mark.parametrize(("ts", "body", "signature"), VECTORS)
def test_pinned_vectors_with_the_svix_seed(ts, body, signature):
    emu = Emulator(signing_seed=SVIX_KEYPAIR[:32])  # not started: signing needs no server
    assert emu.signer.sign(ts, body) == signature
    assert emu.signing_jwk()["x"] == "1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4"
    VerifyKey(SVIX_KEYPAIR[32:]).verify(f"{ts}.".encode() + body, bytes.fromhex(signature))


def test_delivery_is_signed_and_carries_the_status_payload(emulator, http):
    jwk = http.get("/v1/webhooks/signing-key").json()["keys"][0]
    with Receiver() as receiver:
        run = start(http, TEXT_TO_IMAGE, webhook=receiver.url)
        final = wait(http, run["runId"])
        (delivery,) = receiver.wait_for(1)
    headers, body = delivery["headers"], delivery["body"]
    verify(jwk, headers, body)
    with pytest.raises(BadSignatureError):
        verify(jwk, headers, body.replace(b"completed", b"failed!!!"))
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Lamina-Webhook-Request-Id"] == run["runId"]
    assert headers["X-Lamina-Webhook-User-Id"]
    assert abs(int(headers["X-Lamina-Webhook-Timestamp"]) - time.time()) < 10
    assert len(headers["X-Lamina-Webhook-Signature"]) == 128
    assert json.loads(body) == {"data": final}


def test_failed_runs_are_delivered_too(http):
    with Receiver() as receiver:
        run = start(http, TEXT_TO_IMAGE, {"prompt_text": "#fail"}, webhook=receiver.url)
        wait(http, run["runId"])
        (delivery,) = receiver.wait_for(1)
    assert json.loads(delivery["body"])["data"]["status"] == "failed"


def test_retry_schedule_resigns_each_attempt(emulator, http):
    # 5 s, 30 s, 2 min -> 150 ms, 900 ms, 3.6 s. Not 0.01: its 150 ms attempt timeout (15 s scaled)
    # let a loaded machine turn an answered attempt into a timeout; 0.03 gives each one 450 ms.
    emulator.configure(time_factor=0.03)
    jwk = http.get("/v1/webhooks/signing-key").json()["keys"][0]
    with Receiver(statuses=[500, 503, 404]) as receiver:
        run = start(http, TEXT_TO_IMAGE, webhook=receiver.url)
        wait(http, run["runId"])
        attempts = attempts_of(emulator, run["runId"], 4, timeout=20)  # the 4th got a 200: delivery over
        assert len(receiver.received) == 4  # one POST per attempt, none after the 200
    got = receiver.received
    gaps = [b["at"] - a["at"] for a, b in zip(got, got[1:], strict=False)]
    for gap, expected in zip(gaps, (0.15, 0.9, 3.6), strict=True):
        assert expected * 0.8 <= gap <= expected + 0.5
    bodies = {d["body"] for d in got}
    assert len(bodies) == 1  # same payload, re-signed each time
    for delivery in got:
        verify(jwk, delivery["headers"], delivery["body"])
    assert [a["status"] for a in attempts] == [500, 503, 404, 200]


def attempts_of(emu, run_id: str, count: int, timeout: float = 10.0) -> list[dict]:
    """The run's webhook attempts once `count` are logged (an attempt is logged when it ends)."""
    deadline = time.monotonic() + timeout
    while len(attempts := [a for a in emu.webhook_attempts() if a["run_id"] == run_id]) < count:
        assert time.monotonic() < deadline, f"only {len(attempts)} of {count} attempts ended"
        time.sleep(0.01)
    return attempts


def test_gives_up_after_three_retries_and_retries_slow_endpoints():
    """On an emulator of its own: webhook_deliveries counts every run's attempts, and on the shared one
    a run another test left retries into it (test_emulator_api_v1 starts one towards example.com)."""
    # time_factor 0.01: attempt timeout 15 s -> 150 ms; /wait checks every 50 ms as in the suite's
    with private_emulator(time_factor=0.01, check_interval=0.05) as emu, httpx.Client(
        base_url=emu.base_url, headers={"x-api-key": emu.api_key}, timeout=10
    ) as http, Receiver(statuses=[500] * 10, delays=[0.4]) as receiver:
        run = start(http, TEXT_TO_IMAGE, webhook=receiver.url)
        wait(http, run["runId"])
        attempts = attempts_of(emu, run["runId"], 4)  # the 4th ended: the schedule is over
        receiver.wait_for(4)
        assert len(receiver.received) == 4 and [a["attempt"] for a in attempts] == [1, 2, 3, 4]
        assert attempts[0]["status"] is None and "Timeout" in attempts[0]["error"]
        assert emu.stats["webhook_deliveries"] == 4
