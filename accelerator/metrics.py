"""Prometheus text metrics: counters and fixed-bucket latency histograms, no client library needed."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable

__all__ = ["Metrics", "LATENCY_BUCKETS"]

LATENCY_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class _Histogram:
    __slots__ = ("counts", "total", "count")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds
        self.count += 1


class Metrics:
    """Request counts, error counts and latency per operation and cache outcome, plus gauges."""

    def __init__(self) -> None:
        self.requests: dict[str, int] = defaultdict(int)
        self.errors: dict[tuple[str, str], int] = defaultdict(int)
        self.latency: dict[tuple[str, str], _Histogram] = {}
        self.gauges: dict[str, Callable[[], float]] = {}

    def observe(self, operation: str, cache: str, seconds: float) -> None:
        self.requests[operation] += 1
        key = (operation, cache)
        hist = self.latency.get(key)
        if hist is None:
            hist = self.latency[key] = _Histogram()
        hist.observe(seconds)

    def error(self, operation: str, error_type: str) -> None:
        self.errors[(operation, error_type)] += 1

    def gauge(self, name: str, read: Callable[[], float]) -> None:
        """Register a value read at scrape time (cache counters, sizes)."""
        self.gauges[name] = read

    def render(self) -> bytes:
        out = ["# TYPE accelerator_requests_total counter"]
        for op, n in sorted(self.requests.items()):
            out.append(f'accelerator_requests_total{{operation="{op}"}} {n}')
        out.append("# TYPE accelerator_errors_total counter")
        for (op, kind), n in sorted(self.errors.items()):
            out.append(f'accelerator_errors_total{{operation="{op}",type="{kind}"}} {n}')
        out.append("# TYPE accelerator_request_seconds histogram")
        for (op, cache), hist in sorted(self.latency.items()):
            labels = f'operation="{op}",cache="{cache or "none"}"'
            running = 0
            for bound, n in zip(LATENCY_BUCKETS, hist.counts, strict=False):
                running += n
                out.append(f'accelerator_request_seconds_bucket{{{labels},le="{bound}"}} {running}')
            out.append(f'accelerator_request_seconds_bucket{{{labels},le="+Inf"}} {hist.count}')
            out.append(f"accelerator_request_seconds_sum{{{labels}}} {hist.total:.9f}")
            out.append(f"accelerator_request_seconds_count{{{labels}}} {hist.count}")
        for name, read in sorted(self.gauges.items()):
            out.append(f"# TYPE {name} gauge")
            out.append(f"{name} {read()}")
        return ("\n".join(out) + "\n").encode()
