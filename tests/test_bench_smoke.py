"""Every benchmark script runs, in seconds, and prints its table: a smoke run of each (`make bench` and the
long runs stay out of `make test`). The runs use tiny sizes and never write bench/RESULTS.md (checked):
figures there come from full runs only.

A script that rots (an import that moved, an option that no longer parses, a server that no longer starts)
fails here instead of on the next person who wants a figure.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.backend_services import unavailable

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"

# (module and arguments, text its output must contain, needs wrk)
CASES: list[tuple[str, str, bool]] = [
    ("bench.concurrency --seconds 1 --connections 1,8 --backends sqlite --workers 2 --pipeline 2 --no-write",
     "| 2 |", True),
    ("bench.write_throughput --seconds 1 --connections 4 --backends sqlite", "| sqlite |", True),
    ("bench.compare --seconds 0.2 --rounds 1 --delay-us 0 --no-write", "hit faster", False),
    ("bench.ttl_sweep_stall --items 2000", "2% expired, as shipped", False),
    ("bench.hit_path --requests 2000 --rounds 1", "accelerator hit", False),
    ("bench.cache_hit --keys 200 --requests 500 --rounds 1", "hit=500", False),
    ("bench.policy_cost --requests 200 --rounds 1", "conditions", False),
    ("bench.encryption_cost --keys 100 --requests 200 --rounds 1", "PutItem", False),
    ("bench.stream_cost --seconds 0.3 --rounds 1 --writers 2", "with stream", False),
    ("bench.tls_compare --requests 200 --rounds 1 --seconds 1", "| case |", False),
    ("bench.write_tail --items 500 --rate 200 --seconds 1", "| writes |", False),
    ("bench.upstream_compare --requests 50 --rounds 1", "accelerator, hit", False),
    ("bench.upstream_follow --trials 2", "stale window", False),
    ("bench.broadcast_window --samples 3 --keys 2 --cases postgres-notify,redis-redis", "| redis-redis |", False),
    ("bench.export_import --items 500", "round trip exact: True", False),
    ("bench.backend_latency --n 50 --backends memory,sqlite", "sqlite", False),
    ("bench.rss_fresh_connections", "MB", False),
]


def _digest() -> str:
    return hashlib.sha256(RESULTS.read_bytes()).hexdigest()


@pytest.mark.parametrize(("command", "expected", "needs_wrk"), CASES, ids=[c[0].split()[0] for c in CASES])
def test_benchmark_runs_and_prints_its_table(command: str, expected: str, needs_wrk: bool) -> None:
    if needs_wrk and shutil.which("wrk") is None:
        unavailable("wrk is not installed (apt-get install wrk)")
    before = _digest()
    done = subprocess.run([sys.executable, "-m", *command.split()], cwd=ROOT, capture_output=True, text=True,
                          timeout=240, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert expected in done.stdout, done.stdout[-3000:]
    assert _digest() == before, "a smoke run wrote bench/RESULTS.md"
