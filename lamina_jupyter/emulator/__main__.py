"""`python -m lamina_jupyter.emulator`: serve the local Lamina API until Ctrl-C.

Prints the base URL and the demo key to use with it, e.g.
    LAMINA_BASE_URL=http://127.0.0.1:8765 LAMINA_API_KEY=lma_demo_... jupyter lab
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import Emulator


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m lamina_jupyter.emulator", description="A local emulator of the Lamina HTTP API."
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1, loopback only)"
    )
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    parser.add_argument("--latency", type=float, default=2.0, help="seconds a typical run takes (default 2)")
    parser.add_argument("--jitter", type=float, default=0.2, help="relative latency jitter (default 0.2)")
    parser.add_argument(
        "--failure-rate", type=float, default=0.1, help="share of runs that fail (default 0.1)"
    )
    limit = parser.add_mutually_exclusive_group()
    limit.add_argument(
        "--rate-limit", type=int, default=100, help="requests per minute per client IP (default 100)"
    )
    limit.add_argument("--no-rate-limit", action="store_true", help="disable rate limiting")
    parser.add_argument(
        "--rate-limit-headers",
        choices=("on-429", "always"),
        default="on-429",
        help="when RateLimit-* headers are sent: on 429s only, as the docs show (default), or always",
    )
    parser.add_argument(
        "--rate-limit-window",
        choices=("sliding", "fixed"),
        default="sliding",
        help="how the per-IP window moves (the docs do not say): sliding, never more than the limit in "
        "any window-long span (default, the stricter), or fixed, resetting whole",
    )
    parser.add_argument(
        "--time-factor",
        type=float,
        default=1.0,
        help="scale for API time constants: rate window, Retry-After, webhook backoff (default 1)",
    )
    parser.add_argument(
        "--check-interval",
        type=float,
        default=2.0,
        help="seconds between the server's own looks at a run for /wait and /stream, so a change is "
        "seen up to this late, scaled by --time-factor (default 2, as documented; 0 = at once)",
    )
    parser.add_argument(
        "--api-key", default=None, help="the key to accept (default: a fresh lma_demo_... key)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for jitter and failures (default 0)")
    return parser.parse_args(argv)


def build(args: argparse.Namespace) -> Emulator:
    """The (not yet started) emulator the command line asks for."""
    return Emulator(
        latency=args.latency,
        jitter=args.jitter,
        failure_rate=args.failure_rate,
        rate_limit=None if args.no_rate_limit else args.rate_limit,
        time_factor=args.time_factor,
        rate_limit_headers=args.rate_limit_headers,
        rate_limit_window=args.rate_limit_window,
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        seed=args.seed,
        check_interval=args.check_interval,
    )


def main(argv: list[str] | None = None) -> int:
    emulator = build(parse_args(argv))
    try:
        emulator.start()
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Lamina emulator listening on {emulator.base_url}", flush=True)
    print(f"API key: {emulator.api_key}", flush=True)
    print("Use: LAMINA_BASE_URL=<url above> LAMINA_API_KEY=<key above>. Press Ctrl-C to stop.", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # Started in the background by a non-interactive shell, SIGINT arrives ignored; Ctrl-C must still stop us.
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    print("Emulator stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
