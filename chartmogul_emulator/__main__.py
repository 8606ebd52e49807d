"""Command line: ``python -m chartmogul_emulator [options]``; prints the base URL on one line.

Limits are on by default here (40 requests per second, 20 requests in flight, as the real API);
``--no-limits`` or a value of 0 switches them off. Stops cleanly (exit 0) on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from .api import DATE_BOUNDARIES, PAGING_SHAPES
from .policies import FAULT_KINDS, SCRIPTABLE_KINDS, ArrivalDelay
from . import CHARTMOGUL_PARALLEL_CONNECTIONS, CHARTMOGUL_REQUESTS_PER_SECOND
from .server import Emulator, no_collector_pauses


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chartmogul_emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free port)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--activities", type=int, default=20000)
    parser.add_argument("--api-key", default="test-api-key")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--rate-limit", type=int, default=CHARTMOGUL_REQUESTS_PER_SECOND, help="requests per sliding second (0: off)")
    parser.add_argument("--max-connections", type=int, default=CHARTMOGUL_PARALLEL_CONNECTIONS, help="requests in flight (0: off)")
    parser.add_argument("--no-limits", action="store_true", help="switch rate limit and connection cap off")
    parser.add_argument("--retry-after", type=int, default=None, help="send Retry-After on limiter 429s")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--fault-kinds", default=",".join(FAULT_KINDS),
                        help=f"comma-separated subset of {','.join(SCRIPTABLE_KINDS)}")
    parser.add_argument("--stall-ms", type=float, default=0.0,
                        help="the way to the limits stalls this long every 1.3 s, then lets its requests in at once")
    parser.add_argument("--arrival-delay", type=ArrivalDelay.parse, default=None, metavar="SHAPE:MS[:CAP_MS]",
                        help="each request spends a seeded random time on its way before the limits count it: "
                             "uniform:MAX_MS (e.g. uniform:120) or lognormal:MEDIAN_MS:CAP_MS (e.g. lognormal:30:500)")
    parser.add_argument("--compute-budget", type=int, default=0,
                        help="ChartMogul's second limit: compute units a minute before 429s (ASSUMED costs: a single "
                             "object 1, a list page 2, a metric series 5; 0: off)")
    parser.add_argument("--slow-seconds", type=float, default=2.0, help="delay of a 'slow' fault")
    parser.add_argument("--date-boundaries", choices=DATE_BOUNDARIES, default="inclusive")
    parser.add_argument("--paging-shape", choices=PAGING_SHAPES, default="current",
                        help="how lists say there is more: top-level cursor (current), inside meta, or page counts only")
    parser.add_argument("--url-file", type=Path, default=None, help="also write the URL to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    limits_off = args.no_limits
    emulator = Emulator(
        seed=args.seed, customers=args.customers, activities=args.activities, api_key=args.api_key,
        rate_limit=None if limits_off else args.rate_limit or None,
        max_connections=None if limits_off else args.max_connections or None,
        latency_ms=args.latency_ms, jitter_ms=args.jitter_ms, fault_rate=args.fault_rate,
        fault_kinds=tuple(k for k in args.fault_kinds.split(",") if k), date_boundaries=args.date_boundaries,
        paging_shape=args.paging_shape, retry_after=args.retry_after, slow_seconds=args.slow_seconds,
        stall_ms=args.stall_ms, arrival_delay=None if limits_off else args.arrival_delay,
        compute_budget=None if limits_off else args.compute_budget or None, port=args.port)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with no_collector_pauses():
        emulator.start()
        if args.url_file is not None:  # written first: whoever reads the printed URL may read the file next
            args.url_file.write_text(emulator.url + "\n")
        print(emulator.url, flush=True)
        while not stop.wait(0.5):
            pass
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
