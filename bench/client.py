"""Client cost and responsiveness per waiting strategy, measured in one run against a local emulator.

For each of: legacy polling, v1 polling, v1 /wait long-poll, v1 SSE stream, it starts RUNS runs of
the Text to Image app one after another and waits for each. It prints
  - client CPU ms per run (thread CPU time of the calling thread; the emulator runs in another thread),
  - requests per run as counted by the emulator (start + watching),
  - the median delay between the run completing in the emulator (its completedAt) and the client
    returning the finished run.
Usage: .venv/bin/python bench/client.py [runs]
"""

from __future__ import annotations

import statistics
import sys
import time

from lamina_jupyter import Client
from lamina_jupyter.emulator import Emulator

MODES = [("legacy polling", "legacy", "poll"), ("v1 polling", "v1", "poll"),
         ("v1 /wait", "v1", "wait"), ("v1 stream", "v1", "stream")]


def measure(emu: Emulator, api: str, strategy: str, runs: int) -> dict[str, float]:
    cpu, delays = 0.0, []
    with Client(api_key=emu.api_key, base_url=emu.base_url, api=api, wait_strategy=strategy) as client:
        app = client.get_app("Text to Image")  # cached: not part of the per-run cost
        emu.reset_stats()
        for i in range(runs):
            c0 = time.thread_time()
            run = client.start(app, {"Prompt": f"bench {api} {strategy} {i}"})
            final = client.wait(run, timeout=60)
            seen = time.time()
            cpu += time.thread_time() - c0
            assert final.status == "completed" and final.completed_at is not None
            delays.append(seen - final.completed_at.timestamp())
        requests = emu.stats["requests"]
    return {"cpu_ms": 1000 * cpu / runs, "requests": requests / runs,
            "delay_ms": 1000 * statistics.median(delays)}


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    with Emulator(latency=2.5, jitter=0.5, rate_limit=None, seed=1) as emu:
        results = {label: measure(emu, api, strategy, runs) for label, api, strategy in MODES}
    print(f"lamina-jupyter client bench: {runs} runs per mode, Text to Image, emulator latency 2.5 s ± 50 %")
    print(f"{'mode':<16}{'CPU ms/run':>12}{'requests/run':>14}{'median seen-after-done ms':>28}")
    for label, r in results.items():
        print(f"{label:<16}{r['cpu_ms']:>12.1f}{r['requests']:>14.1f}{r['delay_ms']:>28.0f}")
    base = results["v1 polling"]
    for label in ("v1 /wait", "v1 stream"):
        r = results[label]
        print(f"{label} vs v1 polling: {r['requests'] / base['requests']:.2f}x requests, "
              f"{r['delay_ms'] / max(base['delay_ms'], 1e-3):.2f}x delay, "
              f"{r['cpu_ms'] / base['cpu_ms']:.2f}x CPU")


if __name__ == "__main__":
    main()
