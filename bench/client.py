"""The client's own CPU per run against plain httpx making the same requests (one run, side by side).

For each v1 wait strategy the library uses for one run (start + /wait long-poll, or start + one
event stream) and for 1 to 1,000 runs gathered on one AsyncClient, it prints client CPU ms per run
for lamina_jupyter's AsyncClient and for a bare httpx.AsyncClient sending the same 2 requests (no
validation, retries, governor or parsing beyond reading the JSON), and the ratio (goal <= 1.15x).
Each client is made and warmed up once, outside the measurement. The emulator runs in its own
process, so `time.process_time()` here is the client's CPU only.
Usage: .venv/bin/python bench/client.py [max gathered runs, default 1000]
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

from _shared import APP, PlainHttpx, emulator_process

from lamina_jupyter import AsyncClient

STRATEGIES = ("wait", "stream")
RUNS_PER_SIZE = 60  # small sizes repeat until about this many runs are measured


def prompts(n: int) -> list[str]:
    tag = uuid.uuid4().hex[:8]
    return [f"{tag} client bench {i}" for i in range(n)]


async def cpu_per_run(gather: Callable[[list[str]], Awaitable[None]], sizes: list[int]) -> dict[int, float]:
    await gather(prompts(2))  # warm: imports, the first connection, the app cache
    figures = {}
    for n in sizes:
        rounds, spent = max(1, -(-RUNS_PER_SIZE // n)), 0.0
        for _ in range(rounds):
            batch = prompts(n)
            c0 = time.process_time()
            await gather(batch)
            spent += time.process_time() - c0
        figures[n] = spent / (rounds * n)
    return figures


async def library(url: str, key: str, strategy: str, sizes: list[int]) -> dict[int, float]:
    async with AsyncClient(api_key=key, base_url=url, wait_strategy=strategy, max_retries=0) as client:

        async def gather(batch: list[str]) -> None:
            runs = await asyncio.gather(*(client.run(APP, {"Prompt": p}) for p in batch))
            assert all(r.status == "completed" for r in runs)

        return await cpu_per_run(gather, sizes)


async def plain(url: str, key: str, strategy: str, sizes: list[int]) -> dict[int, float]:
    http = PlainHttpx(url, key)
    try:
        return await cpu_per_run(lambda batch: http.runs(batch, strategy), sizes)
    finally:
        await http.aclose()


def main() -> None:
    most = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    sizes = [n for n in (1, 10, 100, 300, 1000) if n <= most]
    print("lamina-jupyter client CPU per run vs plain httpx making the same 2 requests (emulator in its own "
          "process, latency 0.05 s)")
    print(f"{'strategy':<9}{'gathered':>9}{'library ms/run':>16}{'httpx ms/run':>14}{'ratio':>8}")
    with emulator_process() as (url, key):
        for strategy in STRATEGIES:
            floor = asyncio.run(plain(url, key, strategy, sizes))
            ours = asyncio.run(library(url, key, strategy, sizes))
            for n in sizes:
                print(f"{strategy:<9}{n:>9}{1000 * ours[n]:>16.2f}{1000 * floor[n]:>14.2f}"
                      f"{ours[n] / floor[n]:>7.2f}x")
    print("goal: <= 1.15x for every strategy and size")


if __name__ == "__main__":
    main()
