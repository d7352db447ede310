"""Exact latency recording: every sample kept (float µs), per operation and per cache status.

Locust's own percentiles round to whole milliseconds below 100 ms, which hides everything a cache is
about; here each request event's ``response_time`` (a perf_counter difference in ms, as a float) is kept
as is. A sample costs 24 bytes (time, latency, series id), so an hour at 10,000 req/s is ~860 MB; runs of
minutes are a few MB.
"""

from __future__ import annotations

import time
from array import array
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CACHE_HEADER", "Recorder", "Stats", "stats_of"]

CACHE_HEADER = "x-accelerator-cache"
# Status of a reply without the cache header (writes, or a target that is not the accelerator).
NO_HEADER = "none"


@dataclass(frozen=True, slots=True)
class Stats:
    count: int
    p50_us: float
    p90_us: float
    p99_us: float
    p999_us: float
    max_us: float
    mean_us: float

    def as_dict(self) -> dict[str, Any]:
        return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in
                (("count", self.count), ("p50_us", self.p50_us), ("p90_us", self.p90_us),
                 ("p99_us", self.p99_us), ("p999_us", self.p999_us), ("max_us", self.max_us),
                 ("mean_us", self.mean_us))}


def stats_of(samples: Any) -> Stats:
    """Exact percentiles (nearest rank, no interpolation) of latencies in µs."""
    a = np.asarray(samples, dtype=np.float64)
    if a.size == 0:
        return Stats(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    p50, p90, p99, p999 = np.percentile(a, [50, 90, 99, 99.9], method="inverted_cdf")
    return Stats(int(a.size), float(p50), float(p90), float(p99), float(p999), float(a.max()), float(a.mean()))


class Recorder:
    """Collects samples from Locust's request event; ``series`` are (name, status) pairs."""

    def __init__(self) -> None:
        self.series: list[tuple[str, str]] = []
        self._index: dict[tuple[str, str], int] = {}
        self.t = array("d")        # request start, seconds since ``origin``
        self.latency = array("d")  # µs
        self.sid = array("H")      # index into ``series``
        self.origin = time.time()
        self.measure_from = 0.0    # samples that start earlier are warm-up and are dropped
        self.warmup_dropped = 0
        self.errors: dict[str, int] = {}

    def reset_origin(self, warmup: float = 0.0) -> None:
        self.origin = time.time()
        self.measure_from = warmup

    def on_request(self, request_type: str, name: str, response_time: float, response_length: int,
                   response: Any = None, exception: Any = None, start_time: float | None = None,
                   **_: Any) -> None:
        """Locust request event listener."""
        t = (start_time if start_time is not None else time.time()) - self.origin
        if t < self.measure_from:
            self.warmup_dropped += 1
            return
        if exception is not None:
            status = "error"
            key = f"{name}: {str(exception)[:160] or type(exception).__name__}"
            self.errors[key] = self.errors.get(key, 0) + 1
        else:
            status = _cache_status(response)
        self.add(name, status, response_time * 1000.0, t)

    def add(self, name: str, status: str, latency_us: float, t: float) -> None:
        key = (name, status)
        sid = self._index.get(key)
        if sid is None:
            sid = self._index[key] = len(self.series)
            self.series.append(key)
        self.t.append(t)
        self.latency.append(latency_us)
        self.sid.append(sid)

    def __len__(self) -> int:
        return len(self.latency)

    def arrays(self, start: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(t, latency_us, series id) from sample ``start`` on, as numpy views."""
        n = len(self.latency)
        t = np.frombuffer(self.t, dtype=np.float64, count=n)[start:]
        lat = np.frombuffer(self.latency, dtype=np.float64, count=n)[start:]
        sid = np.frombuffer(self.sid, dtype=np.uint16, count=n)[start:]
        return t.copy(), lat.copy(), sid.copy()

    def mask(self, sid: np.ndarray, *, name: str | None = None, status: str | None = None) -> np.ndarray:
        wanted = [i for i, (n, s) in enumerate(self.series)
                  if (name is None or n == name) and (status is None or s == status)]
        return np.isin(sid, wanted)


def _cache_status(response: Any) -> str:
    if response is None:
        return NO_HEADER
    if getattr(response, "status_code", 200) != 200:
        # A non-200 marked success by the scenario: an expected business outcome such as a failed condition.
        return "condfail"
    headers = getattr(response, "headers", None)
    value = headers.get(CACHE_HEADER) if headers is not None else None
    return value.lower() if value else NO_HEADER
