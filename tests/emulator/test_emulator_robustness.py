"""Load, hostile input, clean start/stop, import isolation and the command line."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from suite import CAPTION_WRITER, TEXT_TO_IMAGE

from lamina_jupyter.emulator import Emulator

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.anyio
async def test_500_concurrent_runs_all_complete(emulator):
    emulator.configure(latency=1.5, jitter=0.2)
    emulator.reset_stats()
    # Gate to the pool size: httpcore's pool gets quadratically slow with hundreds of queued requests.
    limits, gate = httpx.Limits(max_connections=20), asyncio.Semaphore(20)
    headers = {"x-api-key": emulator.api_key}
    async with httpx.AsyncClient(base_url=emulator.base_url, headers=headers, limits=limits, timeout=30) as c:

        async def one(i: int) -> str:
            async with gate:
                response = await c.post(
                    f"/v1/apps/{CAPTION_WRITER}/runs", json={"inputs": {"topic_text": f"load {i}"}}
                )
            assert response.status_code == 202
            return response.json()["data"]["runId"]

        ids = await asyncio.gather(*(one(i) for i in range(500)))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            body = (await c.get("/v1/runs", params={"status": "completed", "appId": CAPTION_WRITER})).json()
            if body["pagination"]["total"] >= 500 and emulator.stats["running"] == 0:
                break
            await asyncio.sleep(0.1)
    mine = {r["run_id"]: r["status"] for r in emulator.runs() if r["run_id"] in set(ids)}
    assert len(mine) == 500 and set(mine.values()) == {"completed"}
    stats = emulator.stats
    assert stats["runs_created"] == 500 and stats["running"] == 0
    assert 50 <= stats["peak_running"] <= 500  # many overlapped, none counted twice


def raw_exchange(emulator, payload: bytes, close_early: bool = False) -> bytes:
    host, port = emulator.base_url.rsplit(":", 1)
    with socket.create_connection((host.split("//")[1], int(port)), timeout=5) as s:
        s.sendall(payload)
        if close_early:
            return b""
        chunks = []
        while True:
            try:
                data = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


def test_malformed_request_barrage_never_500s(emulator, http):
    run_url = f"/v1/apps/{TEXT_TO_IMAGE}/runs"
    bad = [
        ("POST", run_url, {"content": b"{not json"}),
        ("POST", run_url, {"content": b"[1, 2, 3]"}),
        ("POST", run_url, {"content": b'{"inputs": NaN}'}),
        ("POST", run_url, {"content": b"[" * 100_000 + b"]" * 100_000}),
        ("POST", run_url, {"content": b"\xff\xfe\x00garbage"}),
        ("POST", run_url, {"content": b"x" * (2 << 20)}),
        ("POST", run_url, {"json": {"inputs": "a string"}}),
        ("POST", run_url, {"json": {"inputs": None}}),
        ("POST", run_url, {"json": {"inputs": {"prompt_text": {"nested": [1]}}}}),
        ("POST", run_url, {"json": {"inputs": {"prompt_text": "x"}, "outputs": "Image"}}),
        ("POST", run_url, {"json": {"inputs": {"prompt_text": "x"}, "outputs": [1, 2]}}),
        ("POST", run_url, {"json": {}}),
        ("POST", run_url, {}),
        ("POST", run_url + "?webhook=%ZZ%00", {"json": {"inputs": {"prompt_text": "x"}}}),
        (
            "POST",
            run_url + "?webhook=" + "http://x/" + "a" * 5000,
            {"json": {"inputs": {"prompt_text": "x"}}},
        ),
        ("GET", "/v1/runs?limit=1e99&offset=abc", {}),
        ("GET", "/v1/runs?limit=99999999999999999999", {}),
        ("GET", "/v1/runs?since=2026-13-45T99:99:99Z", {}),
        ("GET", "/v1/runs?status[]=x&status=%00", {}),
        ("GET", "/v1/runs/%2e%2e%2f%2e%2e/wait?timeout=-5", {}),
        ("GET", "/v1/apps?limit=-3", {}),
        ("GET", "/v1/apps/" + "z" * 3000, {}),
        ("POST", "/v1/assets/upload-urls", {"json": {"files": [None, 3, "x"]}}),
        ("POST", "/v1/apps/x/estimate", {"content": b"{"}),
        ("PATCH", "/v1/runs", {}),
        ("GET", "/v1/runs/\u00e9\u00e8", {}),
        ("POST", "/_emulator/config", {"json": {"latency": "fast"}}),
        ("POST", "/_emulator/config", {"json": {"nonsense": 1}}),
        ("POST", "/_emulator/faults", {"json": {"kind": "status", "times": "often"}}),
    ]
    for method, url, kwargs in bad:
        response = http.request(method, url, **kwargs)
        assert 400 <= response.status_code < 500, (
            method,
            url[:80],
            response.status_code,
            response.text[:200],
        )
        body = response.json()
        assert body["code"] in ("VALIDATION_ERROR", "NOT_FOUND", "WEBHOOK_INVALID_URL"), body
        assert body["requestId"] == response.headers["x-request-id"]
    odd_headers = http.get("/v1/apps", headers={"x-api-key": b"\xff" * 10, "x-workspace-id": b"\xe9"})
    assert odd_headers.status_code == 401 and odd_headers.json()["code"] == "AUTH_INVALID_KEY"
    assert raw_exchange(emulator, b"GARBAGE / NOT-HTTP\r\n\r\n").startswith(b"HTTP/1.1 400")
    half = b'POST /v1/apps/x/runs HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{"in'
    raw_exchange(emulator, half, close_early=True)  # body never completes, client goes away
    assert http.get("/v1/apps").status_code == 200  # still alive


def test_start_is_fast_and_stop_leaves_nothing_behind():
    threads_before = set(threading.enumerate())
    began = time.monotonic()
    emu = Emulator(latency=0.05, jitter=0)
    emu.start()
    assert time.monotonic() - began < 1.0
    with httpx.Client(base_url=emu.base_url, headers={"x-api-key": emu.api_key}) as c:
        run_id = c.post(f"/v1/apps/{TEXT_TO_IMAGE}/runs", json={"inputs": {"prompt_text": "bye"}}).json()[
            "data"
        ]
        url = c.get(f"/v1/runs/{run_id['runId']}/wait").json()["data"]["outputs"][0]["value"]
        assert c.get(url).status_code == 200  # draws in a worker thread
        held = c.post(f"/v1/apps/{TEXT_TO_IMAGE}/runs", json={"inputs": {"prompt_text": "#stuck"}}).json()[
            "data"
        ]
        waiter = threading.Thread(
            target=lambda: c.get(f"/v1/runs/{held['runId']}/wait", params={"timeout": 60})
        )
        waiter.start()
        time.sleep(0.1)
        began = time.monotonic()
        emu.stop()  # must not wait for the 60 s long-poll
        waiter.join(5)
        assert time.monotonic() - began < 2.0
    assert set(threading.enumerate()) <= threads_before
    with pytest.raises(httpx.ConnectError):
        httpx.get(emu.base_url + "/v1/apps")
    emu.stop()  # idempotent


def test_emulator_imports_nothing_else_from_the_package():
    """Load lamina_jupyter.emulator without running lamina_jupyter/__init__ and list what came along."""
    code = (
        "import sys, types\n"
        f"pkg = types.ModuleType('lamina_jupyter'); pkg.__path__ = [{str(REPO / 'lamina_jupyter')!r}]\n"
        "sys.modules['lamina_jupyter'] = pkg\n"
        "import lamina_jupyter.emulator.__main__\n"
        "from lamina_jupyter.emulator import Emulator\n"
        "e = Emulator(latency=0); e.start(); e.stop()\n"
        "print(sorted(m for m in sys.modules if m.startswith('lamina_jupyter')"
        " and not m.startswith('lamina_jupyter.emulator')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['lamina_jupyter']"


def test_command_line_serves_until_interrupted(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lamina_jupyter.emulator",
            "--port",
            "0",
            "--latency",
            "0.05",
            "--no-rate-limit",
            "--api-key",
            "lma_cli_test_key",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )
    try:
        first = proc.stdout.readline()
        second = proc.stdout.readline()
        assert first.startswith("Lamina emulator listening on http://127.0.0.1:"), first
        assert second.strip() == "API key: lma_cli_test_key"
        base_url = first.split(" on ")[1].strip()
        response = httpx.get(base_url + "/v1/apps", headers={"Authorization": "Bearer lma_cli_test_key"})
        assert response.status_code == 200 and "ratelimit-limit" not in response.headers
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Emulator stopped." in out and err == ""
