"""The client's own CPU per run against plain httpx making the same requests (one run, side by side).

For each v1 wait strategy the library uses for one run (start + /wait long-poll, or start + one
event stream) and for 1 to 1,000 runs gathered on one AsyncClient, it prints client CPU ms per run
for lamina_jupyter's AsyncClient and for a bare httpx.AsyncClient sending the same 2 requests
(`_shared.PlainHttpx`: no validation, retries or governor; it reads the run id and the final
status), and the ratio of the two totals (goal <= 1.15x). Both clients are made and warmed up once,
outside the measurement, and their rounds alternate (plain first, then library first) so that
load from other processes on the machine falls on both. The emulator runs in its own process, so
`time.process_time()` here is the client's CPU only; it looks at runs every 0.1 s instead of 2 s
(the same requests and events, a shorter wait between them).
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
RUNS_PER_SIZE = 200  # per side: small sizes repeat until about this many runs are measured
Gather = Callable[[list[str]], Awaitable[None]]


def prompts(n: int) -> list[str]:
    tag = uuid.uuid4().hex[:8]
    return [f"{tag} client bench {i}" for i in range(n)]


async def cpu_per_run(sides: dict[str, Gather], sizes: list[int]) -> dict[int, dict[str, float]]:
    """{size: {side: CPU seconds per run}}, the sides' rounds alternating in order."""
    for gather in sides.values():
        await gather(prompts(2))  # warm: imports, the first connection, the app cache
    figures = {}
    for n in sizes:
        rounds = max(2, -(-RUNS_PER_SIZE // n))
        spent = dict.fromkeys(sides, 0.0)
        for r in range(rounds):
            for name in sides if r % 2 == 0 else reversed(sides):
                batch = prompts(n)
                c0 = time.process_time()
                await sides[name](batch)
                spent[name] += time.process_time() - c0
        figures[n] = {name: seconds / (rounds * n) for name, seconds in spent.items()}
    return figures


async def measure(url: str, key: str, strategy: str, sizes: list[int]) -> dict[int, dict[str, float]]:
    http = PlainHttpx(url, key)
    try:
        async with AsyncClient(api_key=key, base_url=url, wait_strategy=strategy, max_retries=0) as client:

            async def library(batch: list[str]) -> None:
                runs = await asyncio.gather(*(client.run(APP, {"Prompt": p}) for p in batch))
                assert all(r.status == "completed" for r in runs)

            async def plain(batch: list[str]) -> None:
                await http.runs(batch, strategy)

            return await cpu_per_run({"plain": plain, "library": library}, sizes)
    finally:
        await http.aclose()


def main() -> None:
    most = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    sizes = [n for n in (1, 10, 100, 300, 1000) if n <= most]
    print("lamina-jupyter client CPU per run vs plain httpx making the same 2 requests (emulator in its own "
          "process, latency 0.05 s, rounds alternating)")
    print(f"{'strategy':<9}{'gathered':>9}{'library ms/run':>16}{'httpx ms/run':>14}{'ratio':>8}")
    with emulator_process(check_interval=0.1) as (url, key):
        for strategy in STRATEGIES:
            figures = asyncio.run(measure(url, key, strategy, sizes))
            for n in sizes:
                ours, floor = figures[n]["library"], figures[n]["plain"]
                print(f"{strategy:<9}{n:>9}{1000 * ours:>16.2f}{1000 * floor:>14.2f}{ours / floor:>7.2f}x",
                      flush=True)
    print("goal: <= 1.15x for every strategy and size")


if __name__ == "__main__":
    main()
