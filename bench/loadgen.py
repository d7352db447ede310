"""The load generator's own cost, side by side: Locust against the floor responder and the accelerator.

    python -m bench.loadgen                          # users 1,10,50 at 1,000 req/s, plus the max-rate sweep
    python -m bench.loadgen --users 1,10 --duration 10 --no-sweep --no-write

Same hot-keys scenario (95% GetItem / 5% PutItem, Zipf keys), same rate, same user count, once against
``bench/floor_server.py`` (which does nothing but answer from a dict) and once against the accelerator
(SQLite, cache on). Whatever the floor row shows above the raw-client round trip is Locust's, not the
server's. Then ``--find-max-rate`` for one user against both. Writes its section of ``bench/RESULTS.md``
(between the loadgen markers; ``bench.compare`` keeps it).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.compare import ROOT, Processes, cpu_seconds, free_port, machine
from loadtest.results_md import write_section
from loadtest.wire import Connection

__all__ = ["main"]

OP = "GetItem hot-key"
KEYS = 10_000


def runner(url: str, out: Path, *extra: str) -> dict[str, Any]:
    """One ``python -m loadtest.runner`` against ``url``; returns its summary.json (or sweep.json)."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "loadtest.runner", "--scenario", "hot-keys", "--target", url, "--keys",
           str(KEYS), "--no-slo", "--results", str(out), *extra]
    print("  $ " + shlex.join(cmd[1:]), flush=True)
    before = set(out.iterdir())
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"loadtest.runner failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    [run_dir] = set(out.iterdir()) - before
    name = "sweep.json" if (run_dir / "sweep.json").exists() else "summary.json"
    result: dict[str, Any] = json.loads((run_dir / name).read_text())
    result["dir"] = str(run_dir)
    return result


def raw_round_trip(url: str, seconds: float = 2.0) -> tuple[float, float]:
    """p50/p99 (µs) of back-to-back GetItem through the raw client: the server with no generator cost."""
    import orjson

    conn = Connection(url)
    bodies = [orjson.dumps({"TableName": "lt_hot_keys", "Key": {"k": {"S": f"key{i:08d}"}}}) for i in range(1000)]
    for b in bodies:
        conn.request("GetItem", b)
    samples = []
    end = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < end:
        t = time.perf_counter_ns()
        conn.request("GetItem", bodies[i % 1000])
        samples.append(time.perf_counter_ns() - t)
        i += 1
    conn.close()
    p50, p99 = np.percentile(np.asarray(samples) / 1000.0, [50, 99])
    return float(p50), float(p99)


def _get(summary: dict[str, Any], status: str) -> dict[str, Any]:
    op = summary["operations"].get(OP, {})
    return op.get(status) or op.get("all") or {}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__.split("\n")[0])
    p.add_argument("--rate", type=float, default=1000.0)
    p.add_argument("--users", default="1,10,50")
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--cpus", choices=["same", "split", "none"], default="none",
                   help="same: generator and server on vCPU 0; split: generator 0, server 1; none (default)")
    p.add_argument("--no-sweep", action="store_true", help="skip the --find-max-rate sweeps")
    p.add_argument("--step-duration", type=float, default=6.0)
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--output", default=str(ROOT / "bench" / "RESULTS.md"))
    args = p.parse_args(argv)
    users = [int(u) for u in args.users.split(",")]
    server_cpus = {"same": "0", "split": "1", "none": None}[args.cpus]
    client = ["--client-cpus", "0"] if args.cpus != "none" else []
    work = Path(tempfile.mkdtemp(prefix="bench-loadgen-"))
    procs = Processes(work)
    started, load0 = datetime.now(), os.getloadavg()[0]
    rows: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
    sweeps: dict[str, dict[str, Any]] = {}
    try:
        fport, aport = free_port(), free_port()
        procs.start("floor", [sys.executable, "-m", "bench.floor_server", "--port", str(fport)], fport,
                    server_cpus)
        (work / "accel.toml").write_text(f'[server]\nhost = "127.0.0.1"\nport = {aport}\n[backend]\nkind = "sqlite"\n'
                                         f'data_dir = "{work / "data"}"\n[cache]\nenabled = true\n')
        apid = procs.start("accelerator", [sys.executable, "-m", "accelerator.cli", "serve", "--config",
                                           str(work / "accel.toml"), "--log-level", "warning"], aport, server_cpus,
                           "/health").pid
        floor, accel = f"http://127.0.0.1:{fport}", f"http://127.0.0.1:{aport}"
        common = ["--rate", f"{args.rate:g}", "--duration", f"{args.duration:g}", "--warmup", "2", *client]
        print("preloading both targets (a 1 s run each)", flush=True)
        for url in (floor, accel):
            runner(url, work / "preload", "--rate", "100", "--duration", "1")
        for n in users:
            print(f"{n} user(s) at {args.rate:g} req/s:", flush=True)
            f = runner(floor, work / "runs", *common, "--no-preload", "--users", str(n))
            cpu0 = cpu_seconds(apid)
            a = runner(accel, work / "runs", *common, "--no-preload", "--users", str(n))
            # Server CPU over the run (warm-up included) per request sent, so the two costs sit side by side.
            a["server_cpu_us"] = (cpu_seconds(apid) - cpu0) / max(a["requests"] + a["warmup_dropped"], 1) * 1e6
            rows.append((n, f, a))
        raw_floor, raw_accel = raw_round_trip(floor), raw_round_trip(accel)
        if not args.no_sweep:
            for name, url in (("accelerator", accel), ("floor", floor)):
                print(f"max-rate sweep, 1 user, {name}:", flush=True)
                sweeps[name] = runner(url, work / "runs", "--find-max-rate", "--no-preload", "--users", "1",
                                      "--rate", "500",
                                      "--step-duration", f"{args.step_duration:g}", *client)
    finally:
        procs.stop_all()
    text = render(args, users, rows, sweeps, raw_floor, raw_accel, started, load0, argv)
    print("\n" + text)
    if not args.no_write:
        write_section("loadgen", text, Path(args.output))
        print(f"wrote the loadgen section of {args.output}")
    return 0


def render(args: argparse.Namespace, users: list[int], rows: list[tuple[int, dict[str, Any], dict[str, Any]]],
           sweeps: dict[str, dict[str, Any]], raw_floor: tuple[float, float], raw_accel: tuple[float, float],
           started: datetime, load0: float, argv: list[str] | None) -> str:
    info = machine()
    command = "python -m bench.loadgen " + shlex.join(argv if argv is not None else sys.argv[1:])
    pin = {"same": "generator and servers on vCPU 0", "split": "generator on vCPU 0, servers on vCPU 1",
           "none": "not pinned"}[args.cpus]
    out = [
        "## Load generator cost (Locust) vs the server", "",
        f"Measured {started:%Y-%m-%d %H:%M} with `{command.strip()}`: hot-keys scenario, {KEYS:,} keys, "
        f"{args.rate:g} req/s in total, {args.duration:g} s after a 2 s warm-up, per user count; {pin}; "
        f"{info['cpu']}; load average before/after {load0:.2f} / {os.getloadavg()[0]:.2f}.", "",
        f"Raw client, back to back on one connection (no generator; this process is not pinned, so with "
        f"--cpus none client and server may sit on different vCPUs): floor p50 {raw_floor[0]:.0f} µs / p99 "
        f"{raw_floor[1]:.0f} µs; accelerator hit p50 {raw_accel[0]:.0f} µs / p99 {raw_accel[1]:.0f} µs.", "",
        "| users | floor GetItem p50 / p99 µs | accelerator hit p50 / p99 µs | accelerator miss p50 / p99 µs "
        "| achieved req/s (floor / accel) | Locust CPU µs/req (floor / accel) | server CPU µs/req (accel) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, f, a in rows:
        fl, hit, miss = _get(f, "none"), _get(a, "hit"), _get(a, "miss")
        server_cpu = f"{a['server_cpu_us']:.0f}" if a.get("server_cpu_us") is not None else None
        out.append(f"| {n} | {fl.get('p50_us', 0):.0f} / {fl.get('p99_us', 0):.0f} | {hit.get('p50_us', 0):.0f} / "
                   f"{hit.get('p99_us', 0):.0f} | {miss.get('p50_us', 0):.0f} / {miss.get('p99_us', 0):.0f} | "
                   f"{f['achieved_rate']:.0f} / {a['achieved_rate']:.0f} | "
                   f"{f['generator']['generator_cpu_us_per_request']:.0f} / "
                   f"{a['generator']['generator_cpu_us_per_request']:.0f} | {server_cpu or '–'} |")
    out += ["", "The floor column is the generator's own latency: the floor server does next to nothing (its CPU "
            "per request is in the side-by-side table), so anything above the raw-client round trip there is Locust (gevent scheduling of many "
            "users in one process, request bookkeeping). Read the accelerator column against it, not against 0.",
            ""]
    if sweeps:
        out += ["### Highest rate with hit p50 and p99 under 1 ms (1 user)", "",
                "| target | highest passing rate | first failing rate | steps (rate: achieved, p50/p99 µs) |",
                "|---|---:|---:|---|"]
        for name, s in sweeps.items():
            steps = "; ".join(f"{st['rate']:.0f}: {st['achieved_rate']:.0f}, {st.get('hit_p50_us') or 0:.0f}/"
                              f"{st.get('hit_p99_us') or st['all_p99_us']:.0f}" for st in s["steps"])
            out.append(f"| {name} | {s['max_rate_with_hit_p99_under_1ms']:.0f} | {s['first_failing_rate'] or '–'} "
                       f"| {steps} |")
        out += ["", "For the floor (no cache header) the p99 column is over all GetItems; a rate fails when hit p50 "
                "or p99 reaches 1 ms or the achieved rate falls below 95% of the target (one Locust user is one "
                "greenlet: its own CPU per request bounds the rate).", ""]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
