"""GetItem under concurrency, driven by wrk: the floor, cache hits on 1 and N workers, misses per backend.

    python -m bench.concurrency                      # part of `make bench`; writes bench/RESULTS.md
    python -m bench.concurrency --seconds 0.5 --no-write   # quick look

For 1, 32 and 128 connections (``--connections``), wrk (C, one thread, ``bench/getitem.lua``: 1,000 hot keys
of ~250 bytes in turn) drives each target for ``--seconds``; wrk is pinned to vCPU 0 and single-process
servers to vCPU 1 when the machine has two or more, the N-worker server to vCPUs 1..N when it has more than
N, else to all of them (sharing with wrk, which the table says). Targets:
  floor                    bench/floor_server.py (uvloop + httptools + orjson + a dict)
  accel hit, 1 worker      the accelerator (SQLite) answering from its item cache
  accel hit, N workers     the same with ``--workers N`` (N = ``--workers``, default: the vCPUs available)
  accel miss, <backend>    every GetItem a cache miss (item TTL of 1 µs): a store read and a fill
Server CPU µs per request is the CPU time of the server's processes (supervisor and workers) over the run
divided by the requests wrk completed; the cache's hit and miss counters (``/admin/cache``) confirm what
each run measured. The scaling table runs hits at the highest connection count on 1, 2, 4 ... N workers,
with ``--pipeline`` requests per write so that wrk's own CPU stays small beside the workers' it shares cores with.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from bench.compare import HOT_KEYS, PG_DSN, REDIS_URL, TABLE, Processes, machine, preload, reachable
from loadtest.process import free_port
from loadtest.results_md import wrap, write_section

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "getitem.lua"
TAG = f"bench_conc_{os.getpid()}"


@dataclass
class Run:
    """One wrk run against one target."""

    connections: int
    rate: float
    p50_us: float
    p99_us: float
    requests: int
    cpu_us: float | None  # server CPU per request
    outcome: str  # what the cache counted: "hit 100%" etc.


@dataclass
class Server:
    name: str
    url: str
    pid: int
    cpus: str
    workers: int = 1
    accelerator: bool = True
    runs: list[Run] = field(default_factory=list)


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its descendants (the workers of a supervisor)."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split()]
        except OSError:
            continue
    return total


def _stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/admin/cache", timeout=10) as r:
        doc: dict[str, Any] = orjson.loads(r.read())
        return doc


def _latency_us(out: str, pct: str) -> float:
    m = re.search(rf"^\s*{re.escape(pct)}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if m is None:
        return float("nan")
    return float(m.group(1)) * {"us": 1.0, "ms": 1000.0, "s": 1e6}[m.group(2)]


def wrk(server: Server, connections: int, seconds: int, cpu: str | None, pipeline: int = 1) -> Run:
    cmd = (["taskset", "-c", cpu] if cpu is not None else []) + [
        "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", str(LUA), server.url + "/"]
    env = {"WRK_TABLE": TABLE, "WRK_KEYS": str(HOT_KEYS), "WRK_PIPELINE": str(pipeline), "PATH": os.environ["PATH"]}
    before_cpu = _tree_cpu(server.pid)
    before = _stats(server.url) if server.accelerator else {}
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
    cpu_s = _tree_cpu(server.pid) - before_cpu
    after = _stats(server.url) if server.accelerator else {}
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    outcome = "–"
    if server.accelerator:
        hits = after["item_hits"] - before["item_hits"]
        misses = after["item_misses"] - before["item_misses"]
        counted = max(hits + misses, 1)
        outcome = f"hit {hits / counted:.0%}" if hits >= misses else f"miss {misses / counted:.0%}"
    if bad:
        outcome += f", {bad.group(1)} errors"
    return Run(connections, rate, _latency_us(out, "50%"), _latency_us(out, "99%"), requests,
               cpu_s * 1e6 / requests if requests else None, outcome)


def _config(workdir: Path, name: str, port: int, kind: str, options: dict[str, Any], item_ttl: float | None,
            workers: int) -> Path:
    path = workdir / f"{name}.toml"
    lines = ["[server]", 'host = "127.0.0.1"', f"port = {port}", f"workers = {workers}", "",
             "[backend]", f'kind = "{kind}"', f'data_dir = "{workdir / ("data-" + name)}"']
    lines += [f"{k} = {orjson.dumps(v).decode()}" for k, v in options.items()]
    lines += ["", "[cache]", "enabled = true"] + ([f"item_ttl = {item_ttl!r}"] if item_ttl is not None else [])
    path.write_text("\n".join(lines) + "\n")
    return path


def start_accelerator(procs: Processes, name: str, cpus: str, kind: str = "sqlite",
                      options: dict[str, Any] | None = None, item_ttl: float | None = None,
                      workers: int = 1) -> Server:
    port = free_port()
    config = _config(procs.workdir, name.replace(" ", "_").replace(",", ""), port, kind, options or {}, item_ttl,
                     workers)
    proc = procs.start(name, [sys.executable, "-m", "accelerator.cli", "serve", "--config", str(config),
                              "--log-level", "warning"], port, cpus, health="/health")
    url = f"http://127.0.0.1:{port}"
    preload(url, HOT_KEYS)
    return Server(name, url, proc.pid, cpus, workers)


def _cpu_plan(cores: list[int], workers: int) -> tuple[str | None, str, str]:
    """(wrk's CPU, a single process's CPUs, the N-worker server's CPUs)."""
    if len(cores) < 2:
        only = str(cores[0])
        return only, only, only
    gen, rest = cores[0], cores[1:]
    single = str(rest[0])
    many = rest[:workers] if len(rest) >= workers else cores
    return str(gen), single, ",".join(map(str, many))


def table_rows(servers: list[Server], floor: Server, conns: list[int]) -> list[str]:
    head = "| target | " + " | ".join(f"c{c} req/s | c{c} p50 / p99 µs" for c in conns) + \
        " | server CPU µs/req (c" + str(conns[-1]) + ") | cache |"
    lines = [head, "|---|" + "---:|---:|" * len(conns) + "---:|---|"]
    floor_by = {r.connections: r for r in floor.runs}
    for s in servers:
        cells = []
        for r in s.runs:
            ratio = "" if s is floor else f" ({r.rate / floor_by[r.connections].rate:.2f}×)"
            cells.append(f"{r.rate:,.0f}{ratio} | {r.p50_us:,.0f} / {r.p99_us:,.0f}")
        last = s.runs[-1]
        cpu = f"{last.cpu_us:.1f}" if last.cpu_us is not None else "–"
        lines.append(f"| {s.name} | " + " | ".join(cells) + f" | {cpu} | {last.outcome} |")
    return lines


def scaling_rows(scaling: list[Server], conns: int) -> list[str]:
    lines = [f"| workers | req/s (c{conns}) | speed-up | p50 / p99 µs | server CPU µs per hit | vs 1 worker |",
             "|---:|---:|---:|---:|---:|---:|"]
    base = scaling[0].runs[-1]
    for s in scaling:
        r = s.runs[-1]
        cpu = f"{r.cpu_us:.1f}" if r.cpu_us is not None else "–"
        rel = f"{r.cpu_us / base.cpu_us:.2f}×" if r.cpu_us and base.cpu_us else "–"
        lines.append(f"| {s.workers} | {r.rate:,.0f} | {r.rate / base.rate:.2f}× | {r.p50_us:,.0f} / "
                     f"{r.p99_us:,.0f} | {cpu} | {rel} |")
    return lines


def checks(floor: Server, hit1: Server, scaling: list[Server], conns: list[int]) -> list[str]:
    f = {r.connections: r for r in floor.runs}
    h = {r.connections: r for r in hit1.runs}
    out = []
    if 32 in f:
        ratio = h[32].rate / f[32].rate
        out.append(f"- c32 hit throughput, 1 worker: {ratio:.2f}× the floor's (target ≥ 0.5×): "
                   f"{'met' if ratio >= 0.5 else 'NOT met'}")
    if 1 in f:
        ratio = h[1].p50_us / f[1].p50_us
        out.append(f"- one-connection hit p50: {ratio:.2f}× the floor's (target ≤ 1.5×): "
                   f"{'met' if ratio <= 1.5 else 'NOT met'}")
    if len(scaling) > 1:
        one, two = scaling[0].runs[-1], scaling[1].runs[-1]
        speed = two.rate / one.rate
        cpu = (two.cpu_us or 0) / (one.cpu_us or 1)
        out.append(f"- {scaling[1].workers} workers vs 1 (scaling table): {speed:.2f}× the throughput (target ≥ 1.3×: "
                   f"{'met' if speed >= 1.3 else 'NOT met'}), server CPU per hit {cpu:.2f}× (target ≤ 1.10×: "
                   f"{'met' if cpu <= 1.1 else 'NOT met'})")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.concurrency", description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=int, default=3, help="per target per connection count (wrk takes whole seconds)")
    p.add_argument("--connections", default="1,32,128")
    p.add_argument("--workers", type=int, default=0, help="N for the N-worker rows (default: vCPUs available)")
    p.add_argument("--backends", default="sqlite,postgres,redis", help="misses on these backends")
    p.add_argument("--pipeline", type=int, default=8,
                   help="requests per write in the scaling runs (wrk's own CPU per request falls with depth)")
    p.add_argument("--no-write", action="store_true", help="print only; do not write bench/RESULTS.md")
    p.add_argument("--output", default=str(ROOT / "bench" / "RESULTS.md"))
    args = p.parse_args(argv)
    conns = [int(c) for c in args.connections.split(",")]
    cores = sorted(os.sched_getaffinity(0))
    workers = args.workers or len(cores)
    gen_cpu, single_cpus, many_cpus = _cpu_plan(cores, workers)
    load0 = os.getloadavg()[0]
    started = datetime.now()
    procs = Processes(Path(tempfile.mkdtemp(prefix="bench-concurrency-")))
    servers: list[Server] = []
    scaling: list[Server] = []
    try:
        port = free_port()
        floor_proc = procs.start("floor", [sys.executable, "-m", "bench.floor_server", "--port", str(port)], port,
                                 single_cpus)
        floor = Server("floor", f"http://127.0.0.1:{port}", floor_proc.pid, single_cpus, accelerator=False)
        preload(floor.url, HOT_KEYS)
        hit1 = start_accelerator(procs, "accel hit, 1 worker", single_cpus)
        servers += [floor, hit1]
        if workers > 1:
            servers.append(start_accelerator(procs, f"accel hit, {workers} workers", many_cpus, workers=workers))
        for kind in args.backends.split(","):
            options: dict[str, Any] = {}
            if kind == "postgres":
                if not reachable("127.0.0.1", 5432):
                    print("postgres: not reachable; skipped", flush=True)
                    continue
                options = {"dsn": PG_DSN, "schema": TAG}
            elif kind == "redis":
                if not reachable("127.0.0.1", 6379):
                    print("redis: not reachable; skipped", flush=True)
                    continue
                options = {"url": REDIS_URL, "prefix": TAG}
            servers.append(start_accelerator(procs, f"accel miss, {kind}", single_cpus, kind, options,
                                             item_ttl=1e-6))
        for s in servers:
            if s.accelerator and s.name.startswith("accel hit"):
                wrk(s, max(conns), 1, gen_cpu)  # warm every worker's cache
            for c in conns:
                print(f"{s.name}: c{c} for {args.seconds:g}s ...", flush=True)
                s.runs.append(wrk(s, c, args.seconds, gen_cpu))
        counts = sorted({1, *[w for w in (2, 4, 8, 16, 32, 64) if w < workers], workers})
        for count in counts:
            s = next((s for s in servers if s.accelerator and s.workers == count
                      and s.name.startswith("accel hit")), None)
            if s is None:
                cpus = ",".join(map(str, cores[1:count + 1])) if len(cores) > count else ",".join(map(str, cores))
                s = start_accelerator(procs, f"accel hit, {count} workers", cpus, workers=count)
                wrk(s, max(conns), 1, gen_cpu)
            print(f"{s.name}: c{max(conns)} pipelined x{args.pipeline} for {args.seconds:g}s ...", flush=True)
            run = wrk(s, max(conns), args.seconds, gen_cpu, args.pipeline)
            scaling.append(Server(s.name, s.url, s.pid, s.cpus, count, runs=[run]))
    finally:
        procs.stop_all()
        _cleanup(TAG)
    info = machine()
    shared = len(cores) <= workers
    command = "python -m bench.concurrency " + shlex.join(argv if argv is not None else sys.argv[1:])
    pinning = (f"wrk (one thread) on vCPU {gen_cpu}; single-process servers on vCPU {single_cpus}; the "
               f"{workers}-worker server on vCPUs {many_cpus}" + (" (shared with wrk: no spare vCPU)" if shared
                                                                   else ""))
    doc = [
        "## GetItem under concurrency (wrk)", "",
        f"Measured {started:%Y-%m-%d %H:%M} with `{command.strip()}` (`make bench`).", "",
        f"- Machine: {info['cpu']}, {info['memory']} RAM, {info['os']}, Python {info['python']}",
        f"- Load average (1 min) before/after: {load0:.2f} / {os.getloadavg()[0]:.2f}",
        f"- Pinning: {pinning}.",
        f"- Workload: GetItem of {HOT_KEYS:,} hot keys (~250-byte item) in turn, {args.seconds:g} s per cell; "
        "misses: every read a cache miss (item TTL 1 µs), a store read and a fill. (×) is the ratio to the "
        "floor's req/s at the same connection count. Server CPU is the server processes' CPU time over the "
        "run divided by the requests answered.", "",
        wrap("concurrency-table", "\n".join(table_rows(servers, floor, conns))), "",
        "### Scaling with workers", "",
        f"Cache hits at c{max(conns)}, each connection sending {args.pipeline} requests per write (HTTP/1.1 "
        "pipelining, `WRK_PIPELINE`): with the generator on the same cores as the workers, wrk's own CPU per "
        "request must be small beside the server's, or the table measures wrk; pipelining cuts it several times "
        "(the server's too, a little: one read carries several requests). CPU per hit is summed over every "
        "worker (and the supervisor), so a figure that stays flat as workers are added means no shared "
        "bottleneck: on a machine with more cores, throughput is about workers ÷ (CPU per hit). The table "
        "above, without pipelining, is what SDK clients (one request at a time per connection) see.", "",
        wrap("scaling-table", "\n".join(scaling_rows(scaling, max(conns)))), "",
        "### Targets", "", wrap("concurrency-targets", "\n".join(checks(floor, hit1, scaling, conns))), "",
    ]
    text = "\n".join(doc)
    print()
    print(text)
    if not args.no_write:
        write_section("concurrency", text, Path(args.output))
        print(f"wrote {args.output}")
    return 0


def _cleanup(tag: str) -> None:
    """Drop this run's PostgreSQL schema and Redis keys."""
    import asyncio

    import asyncpg
    import redis

    async def drop() -> None:
        conn = await asyncpg.connect(PG_DSN)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{tag}" CASCADE')
        await conn.close()

    with contextlib.suppress(Exception):
        asyncio.run(drop())
    with contextlib.suppress(Exception):
        client = redis.Redis.from_url(REDIS_URL)
        batch = list(client.scan_iter(match=f"*{tag}*", count=1000))
        for i in range(0, len(batch), 500):
            client.delete(*batch[i:i + 500])


if __name__ == "__main__":
    sys.exit(main())
