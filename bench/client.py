"""The client's own CPU per run against plain httpx making the same requests (one run, side by side).

For each v1 wait strategy the library uses for one run (start + /wait long-poll, or start + one
event stream) and for 1 to 1,000 runs gathered on one AsyncClient, it prints client CPU ms per run
for lamina_jupyter's AsyncClient and for a bare httpx.AsyncClient sending the same 2 requests
(`_shared.PlainHttpx`: no validation, retries or governor; it reads the run id and the final
status), and their ratio (goal <= 1.15x). Both clients are made and warmed up once, outside the
measurement. Each round runs both sides back to back (plain first, then library first, in turn),
after a garbage collection, so that load from other processes and the growing heap fall on both
alike; a round's ratio compares its two halves, and the figures printed are medians over the
rounds (with the rounds' lowest and highest ratio), so one disturbed round does not move them. The
emulator runs in its own process, so `time.process_time()` here is the client's CPU only; it looks
at runs every 0.1 s instead of 2 s (the same requests and events, a shorter wait between them).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

from _shared import APP, PlainHttpx, emulator_process

from lamina_jupyter import AsyncClient

STRATEGIES = ("wait", "stream")
SIZES = (1, 10, 100, 300, 1000)
Gather = Callable[[list[str]], Awaitable[None]]
Rounds = list[dict[str, float]]  # per round: {side: CPU seconds per run}


def prompts(n: int) -> list[str]:
    tag = uuid.uuid4().hex[:8]
    return [f"{tag} client bench {i}" for i in range(n)]


async def cpu_per_run(sides: dict[str, Gather], sizes: list[int], runs: int, least: int) -> dict[int, Rounds]:
    """{size: rounds}: at least `least` rounds per size, and enough for `runs` runs per side."""
    for gather in sides.values():
        await gather(prompts(2))  # warm: imports, the first connection, the app cache
    figures = {}
    for n in sizes:
        rounds: Rounds = []
        for r in range(max(least, -(-runs // n))):
            spent = {}
            for name in sides if r % 2 == 0 else reversed(sides):
                batch = prompts(n)
                gc.collect()  # each half starts from a clean heap: no collection left over from the other
                c0 = time.process_time()
                await sides[name](batch)
                spent[name] = (time.process_time() - c0) / n
            rounds.append(spent)
        figures[n] = rounds
    return figures


async def measure(url: str, key: str, strategy: str, sizes: list[int], runs: int,
                  least: int) -> dict[int, Rounds]:
    http = PlainHttpx(url, key)
    try:
        async with AsyncClient(api_key=key, base_url=url, wait_strategy=strategy, max_retries=0) as client:

            async def library(batch: list[str]) -> None:
                done = await asyncio.gather(*(client.run(APP, {"Prompt": p}) for p in batch))
                assert all(r.status == "completed" for r in done)

            async def plain(batch: list[str]) -> None:
                await http.runs(batch, strategy)

            return await cpu_per_run({"plain": plain, "library": library}, sizes, runs, least)
    finally:
        await http.aclose()


def summary(rounds: Rounds) -> tuple[float, float, float, float, float]:
    """(library ms/run, plain ms/run, median ratio, lowest, highest) over the rounds."""
    ratios = [r["library"] / r["plain"] for r in rounds]
    return (1000 * statistics.median(r["library"] for r in rounds),
            1000 * statistics.median(r["plain"] for r in rounds),
            statistics.median(ratios), min(ratios), max(ratios))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("most", nargs="?", type=int, default=1000, help="largest gather (default 1000)")
    parser.add_argument("--runs", type=int, default=200,
                        help="runs per side and size: small sizes repeat rounds to this many (default 200)")
    parser.add_argument("--rounds", type=int, default=6,
                        help="least rounds per size, for the medians (default 6; 1,000 runs each at 1,000)")
    args = parser.parse_args()
    sizes = [n for n in SIZES if n <= args.most]
    print("lamina-jupyter client CPU per run vs plain httpx making the same 2 requests (emulator in its own "
          f"process, latency 0.05 s; medians of rounds with both sides, at least {args.rounds} per size)")
    print(f"{'strategy':<9}{'gathered':>9}{'rounds':>7}{'library ms/run':>16}{'httpx ms/run':>14}{'ratio':>8}"
          f"{'range':>14}")
    with emulator_process(check_interval=0.1) as (url, key):
        for strategy in STRATEGIES:
            figures = asyncio.run(measure(url, key, strategy, sizes, args.runs, args.rounds))
            for n in sizes:
                ours, floor, ratio, low, high = summary(figures[n])
                print(f"{strategy:<9}{n:>9}{len(figures[n]):>7}{ours:>16.2f}{floor:>14.2f}{ratio:>7.2f}x"
                      f"{low:>8.2f}-{high:.2f}x", flush=True)
    print("goal: <= 1.15x for every strategy and size")


if __name__ == "__main__":
    main()
