"""CPU time of one API throttle check: DRF's request-time list against a fixed-window counter.

The load test raises every API rate so far that throttling never refuses (benchmarks/load_test.py,
RATES); under DRF's ``SimpleRateThrottle`` the list kept per client then holds every call of the
last window, read, unpickled, extended and rewritten on every call. This measures, against the real
cache named by ``CACHE_URL`` (Redis), the CPU one ``allow_request`` costs with ``--calls`` calls
already in the window, for DRF's throttle and for ``leaderboard.api.throttling.WindowCounter`` (one ``incr``), and
their ratio in the same run (see docs/performance.md).

    CACHE_URL=redis://127.0.0.1:6379/7 SECRET_KEY=x DEBUG=0 \\
        taskset -c 0 python benchmarks/bench_throttle.py [--calls 1200] [--repeats 2000]

The cache database is flushed at the start (use one of your own).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medvtab.settings")
os.environ["MEDVTAB_API_ANON_RATE"] = "1000000/min"


def _request() -> Any:
    from django.contrib.auth.models import AnonymousUser
    from rest_framework.test import APIRequestFactory

    request = APIRequestFactory().get("/api/v1/benchmarks/", REMOTE_ADDR="10.0.0.1")
    request.user = AnonymousUser()
    return request


def _drf_class() -> type:
    from django.conf import settings
    from rest_framework.throttling import AnonRateThrottle

    class DrfAnon(AnonRateThrottle):
        scope = "anon"

        def get_rate(self) -> str | None:
            return settings.MEDVTAB_API_RATES["anon"]

    return DrfAnon


def measure(cls: type, calls: int, repeats: int) -> float:
    """Median CPU µs of one allow_request with ``calls`` earlier calls in the window."""
    from django.core.cache import cache

    cache.clear()
    request = _request()
    for _ in range(calls):
        cls().allow_request(request, None)
    samples = []
    for _ in range(repeats):
        start = time.process_time_ns()
        cls().allow_request(request, None)
        samples.append((time.process_time_ns() - start) / 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1200, help="calls already in the window")
    parser.add_argument("--repeats", type=int, default=2000)
    args = parser.parse_args()
    if not os.environ.get("CACHE_URL", "").startswith("redis://"):
        sys.exit("set CACHE_URL to a Redis database of your own (it is flushed)")
    import django

    django.setup()
    from leaderboard.api.throttling import AnonThrottle

    drf = measure(_drf_class(), args.calls, args.repeats)
    counter = measure(AnonThrottle, args.calls, args.repeats)
    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    print(f"calls in window: {args.calls}, repeats: {args.repeats} (median CPU per check)")
    print(f"DRF history list:     {drf:8.1f} µs")
    print(f"window counter:       {counter:8.1f} µs")
    print(f"ratio DRF / counter:  {drf / counter:8.2f}")


if __name__ == "__main__":
    main()
