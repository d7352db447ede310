"""Side by side, in one run: the same GetItem workload through everything a user might compare us with.

    python -m bench.compare                # make bench; writes bench/RESULTS.md
    python -m bench.compare --cpus split   # client on CPU 0, servers on CPU 1 (default: all on CPU 0)
    python -m bench.compare --seconds 0.5 --rounds 2 --no-write   # quick look

One client, one connection, one request at a time: latency is the round trip, throughput is 1/latency.
Every HTTP target is driven by the same few lines (``loadtest.wire.Connection``), reading 1,000 hot keys
in turn (a ~250-byte item). Targets, interleaved in rounds so machine drift hits all alike:
  floor            bench/floor_server.py: uvloop + httptools + orjson + a dict (the floor for Python)
  accel/<b> hit    the accelerator with backend <b>, item in its cache
  accel/<b> miss   the same server, every key read once after a cache flush (store read + fill)
  redis GET        redis-py, one connection, the same item as a JSON string
  asyncpg SELECT   one connection, prepared ``SELECT v FROM kv WHERE k = $1``
  moto GetItem     moto's server (it closes the connection after each reply: that cost is moto's)
and, for simulated distance, the PostgreSQL and Redis rows again through a TCP proxy adding --delay-us to
every request to the store (bench/delay_proxy.py), which is what a store one network hop away costs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from loadtest.process import free_port
from loadtest.results_md import wrap, write_section
from loadtest.wire import Connection

ROOT = Path(__file__).resolve().parent.parent
TABLE = "bench_compare"        # hot keys: always cached on the accelerator
COLD = "bench_compare_cold"    # miss keys: read once each after a flush of this table only
HOT_KEYS = 1000
MISS_KEYS = 20000
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"
TAG = f"benchcmp{os.getpid()}"


def key(i: int) -> dict[str, Any]:
    return {"k": {"S": f"key{i:08d}"}}


def item(i: int) -> dict[str, Any]:
    return {**key(i), "v": {"S": "x" * 200}, "version": {"N": "1"}}


def get_body(i: int, table: str = TABLE) -> bytes:
    return orjson.dumps({"TableName": table, "Key": key(i)})


def table_spec(name: str) -> dict[str, Any]:
    return {"TableName": name, "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST"}


# -- processes ------------------------------------------------------------------------------------------------------

def reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), 0.5).close()
        return True
    except OSError:
        return False


class Processes:
    """Subprocesses of this run, each optionally pinned with taskset; all stopped at the end."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, cmd: list[str], port: int, cpus: str | None, health: str | None = None,
              timeout: float = 30.0) -> subprocess.Popen[bytes]:
        full = (["taskset", "-c", cpus] if cpus else []) + cmd
        log = open(self.workdir / f"{name.replace('/', '_')}.log", "wb")  # noqa: SIM115 - lives with the process
        proc = subprocess.Popen(full, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.procs.append(proc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = (self.workdir / f"{name.replace('/', '_')}.log").read_text()[-600:]
                raise RuntimeError(f"{name} exited: {tail.strip().splitlines()[-1] if tail.strip() else '?'}")
            try:
                if health:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{health}", timeout=1):
                        return proc
                elif reachable("127.0.0.1", port):
                    return proc
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{name} did not start in {timeout}s")

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- targets --------------------------------------------------------------------------------------------------------

@dataclass
class Target:
    """One row: ``round(seconds)`` runs requests for that long and appends latencies (ns)."""

    name: str
    run: Callable[[float], tuple[list[int], float]]
    pid: int | None = None
    group: str = "loopback"
    note: str = ""
    samples: list[int] = field(default_factory=list)
    busy_s: float = 0.0
    server_cpu_s: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)

    def round(self, seconds: float) -> None:
        cpu0 = cpu_seconds(self.pid) if self.pid else 0.0
        samples, busy = self.run(seconds)
        if self.pid:
            self.server_cpu_s += cpu_seconds(self.pid) - cpu0
        self.samples += samples
        self.busy_s += busy

    def stats(self) -> dict[str, Any]:
        a = np.asarray(self.samples, dtype=np.float64) / 1000.0
        p50, p99 = np.percentile(a, [50, 99], method="inverted_cdf") if a.size else (0.0, 0.0)
        return {"n": int(a.size), "p50_us": float(p50), "p99_us": float(p99), "mean_us": float(a.mean()) if a.size
                else 0.0, "rate": a.size / self.busy_s if self.busy_s else 0.0,
                "server_cpu_us": self.server_cpu_s / a.size * 1e6 if (a.size and self.pid) else None}


def http_target(name: str, url: str, bodies: list[bytes], statuses: Counter[str] | None = None,
                between: Callable[[], None] | None = None) -> Callable[[float], tuple[list[int], float]]:
    """GetItem over ``bodies`` in turn on one connection; ``between`` runs (untimed) when they run out."""
    conn = Connection(url)
    cursor = 0

    def run(seconds: float) -> tuple[list[int], float]:
        nonlocal cursor
        out: list[int] = []
        busy = 0
        clock = time.perf_counter_ns
        end = clock() + int(seconds * 1e9)
        start = clock()
        while start < end:
            if cursor == len(bodies):
                cursor = 0
                if between is not None:
                    busy += clock() - start
                    between()
                    start = clock()
            t = clock()
            reply = conn.request("GetItem", bodies[cursor])
            out.append(clock() - t)
            cursor += 1
            if reply.status != 200:
                raise RuntimeError(f"{name}: HTTP {reply.status} {reply.body[:200]!r}")
            if statuses is not None:
                statuses[reply.headers.get("x-accelerator-cache", "none")] += 1
            if clock() >= end:
                break
        busy += clock() - start
        return out, busy / 1e9

    return run


def redis_target(url: str) -> Callable[[float], tuple[list[int], float]]:
    import redis

    client = redis.Redis.from_url(url, single_connection_client=True)
    keys = [f"{TAG}direct:key{i:08d}" for i in range(HOT_KEYS)]
    value = orjson.dumps(item(0))
    pipe = client.pipeline(transaction=False)
    for k in keys:
        pipe.set(k, value)
    pipe.execute()

    def run(seconds: float) -> tuple[list[int], float]:
        out: list[int] = []
        clock = time.perf_counter_ns
        start = clock()
        end = start + int(seconds * 1e9)
        i = 0
        while True:
            t = clock()
            client.get(keys[i % HOT_KEYS])
            now = clock()
            out.append(now - t)
            i += 1
            if now >= end:
                return out, (now - start) / 1e9

    return run


class AsyncpgTarget:
    """Prepared SELECT by primary key on one asyncpg connection, in a uvloop loop kept for the whole run."""

    def __init__(self, dsn: str) -> None:
        import uvloop

        self.loop = uvloop.new_event_loop()
        self.schema = f"{TAG}_direct"
        self.loop.run_until_complete(self._open(dsn))

    async def _open(self, dsn: str) -> None:
        import asyncpg

        self.conn = await asyncpg.connect(dsn)
        await self.conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
        await self.conn.execute(f"CREATE TABLE IF NOT EXISTS {self.schema}.kv (k text PRIMARY KEY, v bytea)")
        value = orjson.dumps(item(0))
        await self.conn.executemany(f"INSERT INTO {self.schema}.kv VALUES ($1, $2) ON CONFLICT DO NOTHING",
                                    [(f"key{i:08d}", value) for i in range(HOT_KEYS)])
        self.stmt = await self.conn.prepare(f"SELECT v FROM {self.schema}.kv WHERE k = $1")
        self.keys = [f"key{i:08d}" for i in range(HOT_KEYS)]

    async def _run(self, seconds: float) -> tuple[list[int], float]:
        out: list[int] = []
        clock = time.perf_counter_ns
        start = clock()
        end = start + int(seconds * 1e9)
        i = 0
        fetch = self.stmt.fetchval
        while True:
            t = clock()
            await fetch(self.keys[i % HOT_KEYS])
            now = clock()
            out.append(now - t)
            i += 1
            if now >= end:
                return out, (now - start) / 1e9

    def run(self, seconds: float) -> tuple[list[int], float]:
        return self.loop.run_until_complete(self._run(seconds))

    def close(self) -> None:
        async def _close() -> None:
            await self.conn.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
            await self.conn.close()

        with contextlib.suppress(Exception):
            self.loop.run_until_complete(_close())
        self.loop.close()


def preload(url: str, hot: int, cold: int = 0) -> None:
    from loadtest.wire import create_tables, write_items

    conn = Connection(url)
    create_tables(conn, [table_spec(TABLE)] + ([table_spec(COLD)] if cold else []))
    write_items(conn, TABLE, (item(i) for i in range(hot)))
    if cold:
        write_items(conn, COLD, (item(i) for i in range(cold)))
    conn.close()


def flush(url: str) -> Callable[[], None]:
    """Empty the accelerator's cache of the cold table (untimed, between passes over its keys)."""

    def do() -> None:
        request = urllib.request.Request(f"{url}/admin/cache/flush/{COLD}", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10) as r:
            r.read()

    return do


def warm(url: str) -> None:
    conn = Connection(url)
    for i in range(HOT_KEYS):
        conn.request("GetItem", get_body(i))
    conn.close()


# -- the run --------------------------------------------------------------------------------------------------------

@dataclass
class Setup:
    targets: list[Target] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    closers: list[Callable[[], None]] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)


def _accel_config(path: Path, port: int, kind: str, options: dict[str, Any]) -> Path:
    lines = ["[server]", 'host = "127.0.0.1"', f"port = {port}", "", "[backend]", f'kind = "{kind}"',
             f'data_dir = "{path.parent / ("data-" + path.stem)}"']
    lines += [f"{k} = {orjson.dumps(v).decode()}" for k, v in options.items()]
    lines += ["", "[cache]", "enabled = true"]
    path.write_text("\n".join(lines) + "\n")
    return path


def _add_accelerator(setup: Setup, procs: Processes, cpus: str | None, label: str, kind: str,
                     options: dict[str, Any], group: str, load: bool = True) -> bool:
    port = free_port()
    config = _accel_config(procs.workdir / f"{label.replace('/', '_').replace('+', 'p')}.toml", port, kind, options)
    url = f"http://127.0.0.1:{port}"
    try:
        proc = procs.start(label, [sys.executable, "-m", "accelerator.cli", "serve", "--config", str(config),
                                   "--log-level", "warning"], port, cpus, health="/health")
        if load:
            preload(url, HOT_KEYS, MISS_KEYS)
        warm(url)
        flush(url)()
    except Exception as exc:  # noqa: BLE001 - a backend that cannot run here is a skipped row, not a crash
        setup.skipped.append((label, f"{type(exc).__name__}: {exc}"))
        return False
    hit_status: Counter[str] = Counter()
    miss_status: Counter[str] = Counter()
    hot = [get_body(i) for i in range(HOT_KEYS)]
    cold = [get_body(i, COLD) for i in range(MISS_KEYS)]
    setup.targets.append(Target(f"{label} hit", http_target(label, url, hot, hit_status), proc.pid, group,
                                statuses=hit_status))
    setup.targets.append(Target(f"{label} miss", http_target(label, url, cold, miss_status, flush(url)),
                                proc.pid, group, statuses=miss_status))
    return True


def build(args: argparse.Namespace, procs: Processes) -> Setup:
    setup = Setup()
    cpus = args.server_cpus
    port = free_port()
    floor = procs.start("floor", [sys.executable, "-m", "bench.floor_server", "--port", str(port)], port, cpus)
    preload(f"http://127.0.0.1:{port}", HOT_KEYS)
    setup.targets.append(Target("floor", http_target("floor", f"http://127.0.0.1:{port}",
                                                     [get_body(i) for i in range(HOT_KEYS)]), floor.pid))
    pg, rd = reachable("127.0.0.1", 5432), reachable("127.0.0.1", 6379)
    backends: list[tuple[str, dict[str, Any]]] = [("sqlite", {})]
    if pg:
        backends.append(("postgres", {"dsn": PG_DSN, "schema": TAG}))
    else:
        setup.skipped.append(("accel/postgres", "no PostgreSQL at 127.0.0.1:5432"))
    if rd:
        backends.append(("redis", {"url": REDIS_URL, "prefix": TAG}))
    else:
        setup.skipped.append(("accel/redis", "no Redis at 127.0.0.1:6379"))
    working = {kind for kind, options in backends
               if _add_accelerator(setup, procs, cpus, f"accel/{kind}", kind, options, "loopback")}
    if rd:
        import redis

        setup.versions["redis"] = str(redis.Redis.from_url(REDIS_URL).info("server").get("redis_version"))
        setup.targets.append(Target("redis GET (redis-py)", redis_target(REDIS_URL)))
        setup.closers.append(_redis_cleanup)
    if pg:
        direct = AsyncpgTarget(PG_DSN)
        version = direct.conn.get_server_version()  # asyncpg reads 15.4 as (15, 0, 4): major, micro
        setup.versions["postgresql"] = f"{version.major}.{version.micro}"
        setup.targets.append(Target("asyncpg SELECT by key", direct.run))
        setup.closers += [direct.close, _pg_cleanup]
    port = free_port()
    try:
        moto = procs.start("moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                           port, cpus)
        preload(f"http://127.0.0.1:{port}", HOT_KEYS)
        setup.targets.append(Target("moto GetItem", http_target("moto", f"http://127.0.0.1:{port}",
                                                                [get_body(i) for i in range(HOT_KEYS)]),
                                    moto.pid, note="Connection: close after each reply"))
    except Exception as exc:  # noqa: BLE001
        setup.skipped.append(("moto", f"{type(exc).__name__}: {exc}"))
    if args.delay_us > 0:
        _add_distance(setup, procs, args, working)
    return setup


def _add_distance(setup: Setup, procs: Processes, args: argparse.Namespace, working: set[str]) -> None:
    """The store one simulated hop away: direct and accelerator rows again through a delay proxy."""
    group = f"store +{args.delay_us:g} us away"
    for kind, upstream in (("redis", "127.0.0.1:6379"), ("postgres", "127.0.0.1:5432")):
        if kind not in working:
            continue
        port = free_port()
        procs.start(f"proxy-{kind}", [sys.executable, "-m", "bench.delay_proxy", "--listen", str(port),
                                      "--upstream", upstream, "--delay-us", str(args.delay_us)],
                    port, args.proxy_cpus)
        if kind == "redis":
            setup.targets.append(Target("redis GET via proxy", redis_target(f"redis://127.0.0.1:{port}/0"),
                                        group=group))
            options: dict[str, Any] = {"url": f"redis://127.0.0.1:{port}/0", "prefix": TAG}
        else:
            direct = AsyncpgTarget(PG_DSN.replace(":5432", f":{port}"))
            setup.targets.append(Target("asyncpg SELECT via proxy", direct.run, group=group))
            setup.closers.append(direct.close)
            options = {"dsn": PG_DSN.replace(":5432", f":{port}"), "schema": TAG}
        _add_accelerator(setup, procs, args.server_cpus, f"accel/{kind} +{args.delay_us:g}us", kind, options,
                         group, load=False)


def _redis_cleanup() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for pattern in (f"*{TAG}*",):
        batch = list(client.scan_iter(match=pattern, count=1000))
        for i in range(0, len(batch), 500):
            client.delete(*batch[i:i + 500])


def _pg_cleanup() -> None:
    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(PG_DSN)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{TAG}" CASCADE')
        await conn.close()

    asyncio.run(drop())


# -- output ---------------------------------------------------------------------------------------------------------

def machine() -> dict[str, str]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    mem = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), "0")
    virt = subprocess.run(["systemd-detect-virt"], capture_output=True, text=True).stdout.strip() \
        if Path("/usr/bin/systemd-detect-virt").exists() else ""
    return {"cpu": f"{model}, {os.cpu_count()} vCPUs" + (f" ({virt})" if virt else ""),
            "memory": f"{int(mem) / 1024 / 1024:.0f} GiB", "os": f"Linux {platform.release()}",
            "python": platform.python_version()}


def table(setup: Setup) -> tuple[list[str], dict[str, dict[str, Any]]]:
    stats = {t.name: t.stats() for t in setup.targets}
    floor = stats["floor"]
    head = "| target | p50 µs | p99 µs | mean µs | req/s (1 conn) | p50 vs floor | server CPU µs/req | cache header |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---|"]
    group = "loopback"
    for t in setup.targets:
        if t.group != group:
            group = t.group
            lines.append(f"| **{group}** | | | | | | | |")
        s = stats[t.name]
        header = ", ".join(f"{k} {v / max(sum(t.statuses.values()), 1):.0%}" for k, v in t.statuses.most_common())
        cpu = f"{s['server_cpu_us']:.0f}" if s["server_cpu_us"] is not None else "–"
        lines.append(f"| {t.name} | {s['p50_us']:.0f} | {s['p99_us']:.0f} | {s['mean_us']:.0f} | {s['rate']:,.0f} | "
                     f"{s['p50_us'] / floor['p50_us']:.2f}× | {cpu} | {header or t.note or '–'} |")
    return lines, stats


def checks(stats: dict[str, dict[str, Any]], delay: float) -> list[str]:
    out = []
    floor, hit = stats["floor"], stats.get("accel/sqlite hit")
    if hit:
        r = hit["p50_us"] / floor["p50_us"]
        out.append(f"- hit p50 within 2× the floor: accel/sqlite hit {hit['p50_us']:.0f} µs vs floor "
                   f"{floor['p50_us']:.0f} µs = {r:.2f}× → **{'PASS' if r <= 2 else 'FAIL'}**")
    for kind in ("postgres", "redis"):
        for suffix in ("", f" +{delay:g}us"):
            h, m = stats.get(f"accel/{kind}{suffix} hit"), stats.get(f"accel/{kind}{suffix} miss")
            if h and m:
                r = m["p50_us"] / h["p50_us"]
                out.append(f"- {kind}{' (store ' + suffix.strip() + ' away)' if suffix else ''}: miss/hit p50 = "
                           f"{m['p50_us']:.0f}/{h['p50_us']:.0f} µs = {r:.2f}× (p99 {m['p99_us']:.0f}/"
                           f"{h['p99_us']:.0f} µs) → hit faster: **{'PASS' if r > 1 else 'FAIL'}**")
    moto = stats.get("moto GetItem")
    if hit and moto:
        r = hit["rate"] / moto["rate"]
        out.append(f"- hits/s ≥ 20× moto GetItem/s: {hit['rate']:,.0f} vs {moto['rate']:,.0f} = {r:.0f}× → "
                   f"**{'PASS' if r >= 20 else 'FAIL'}**")
    return out


def distance_note(stats: dict[str, dict[str, Any]], delay: float) -> list[str]:
    """What the proxy added, measured, and the model it supports."""
    out = []
    for kind, direct, via in (("redis", "redis GET (redis-py)", "redis GET via proxy"),
                              ("postgres", "asyncpg SELECT by key", "asyncpg SELECT via proxy")):
        d, v = stats.get(direct), stats.get(via)
        h, m = stats.get(f"accel/{kind} hit"), stats.get(f"accel/{kind} miss")
        hd, md = stats.get(f"accel/{kind} +{delay:g}us hit"), stats.get(f"accel/{kind} +{delay:g}us miss")
        if not (d and v and h and m and hd and md):
            continue
        added = v["p50_us"] - d["p50_us"]
        out.append(f"- {kind}: the proxy adds {added:.0f} µs per store round trip (p50 {d['p50_us']:.0f} → "
                   f"{v['p50_us']:.0f} µs); the accelerator's miss goes {m['p50_us']:.0f} → {md['p50_us']:.0f} µs "
                   f"(+{md['p50_us'] - m['p50_us']:.0f}) while its hit stays {h['p50_us']:.0f} → {hd['p50_us']:.0f} µs: "
                   f"miss/hit {m['p50_us'] / h['p50_us']:.1f}× → {md['p50_us'] / hd['p50_us']:.1f}×.")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.split("\n")[0])
    p.add_argument("--cpus", choices=["same", "split", "none"], default="same",
                   help="same: client and servers on CPU 0 (default); split: client on 0, servers on 1; none")
    p.add_argument("--seconds", type=float, default=1.0, help="per target per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--delay-us", type=float, default=200.0, help="simulated store distance (0: skip)")
    p.add_argument("--no-write", action="store_true", help="print only; do not write bench/RESULTS.md")
    p.add_argument("--output", default=str(ROOT / "bench" / "RESULTS.md"))
    args = p.parse_args(argv)
    two = (os.cpu_count() or 1) > 1
    args.server_cpus = {"same": "0", "split": "1" if two else "0", "none": None}[args.cpus]
    args.proxy_cpus = "1" if two and args.cpus == "same" else None
    if args.cpus != "none":
        os.sched_setaffinity(0, {0})
    pinning = {"same": "client and every server it starts pinned to vCPU 0 (taskset)",
               "split": "client on vCPU 0, the servers it starts on vCPU 1",
               "none": "no pinning"}[args.cpus]
    pinning += "; PostgreSQL and Redis are the system services, not pinned"
    if args.delay_us > 0:
        pinning += f"; delay proxies on {'vCPU 1' if args.proxy_cpus else 'any vCPU'}"
    load0 = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    procs = Processes(workdir)
    started = datetime.now()
    try:
        print(f"setting up (logs in {workdir}) ...", flush=True)
        setup = build(args, procs)
        print(f"{len(setup.targets)} targets, {args.rounds} rounds of {args.seconds:g}s each; {pinning}", flush=True)
        for r in range(args.rounds):
            for t in setup.targets:
                t.round(args.seconds)
            print(f"  round {r + 1}/{args.rounds} done", flush=True)
    finally:
        for close in locals().get("setup", Setup()).closers:
            with contextlib.suppress(Exception):
                close()
        procs.stop_all()
    lines, stats = table(setup)
    info = machine()
    command = "python -m bench.compare " + shlex.join(argv if argv is not None else sys.argv[1:])
    doc = [
        "## GetItem side by side", "",
        f"Measured {started:%Y-%m-%d %H:%M} with `{command.strip()}` (`make bench`).", "",
        f"- Machine: {info['cpu']}, {info['memory']} RAM, {info['os']}, Python {info['python']}"
        + "".join(f", {k} {v}" for k, v in setup.versions.items()),
        f"- Load average (1 min) before/after: {load0:.2f} / {os.getloadavg()[0]:.2f} (other work on the box "
        "shows up as noise in p99)",
        f"- Pinning: {pinning}.",
        f"- Workload: one client, one connection, one request at a time; {HOT_KEYS:,} hot keys read in turn "
        f"(~250-byte item); misses read {MISS_KEYS:,} other keys once each after a cache flush; "
        f"{args.rounds} interleaved rounds × {args.seconds:g} s per target.",
        "- p50 vs floor is the ratio of p50 latencies; throughput on one connection is 1/latency.", "",
        wrap("compare-table", "\n".join(lines)), "",
        "### Targets", "", wrap("compare-targets", "\n".join(checks(stats, args.delay_us))), "",
    ]
    if setup.skipped:
        doc += ["### Skipped", "", *(f"- {name}: {why}" for name, why in setup.skipped), ""]
    if args.delay_us > 0:
        doc += ["### Distance to the store", "",
                f"A cache hit never touches the store, so its latency does not depend on how far the store is; "
                f"a miss pays one store round trip or more. On loopback the stores answer in tens of µs, so "
                f"the hit/miss ratio here is modest. The rows under **store +{args.delay_us:g} us away** "
                f"send every store request through `bench/delay_proxy.py`, which delays it by "
                f"{args.delay_us:g} µs (a same-AZ network hop is ~200–500 µs, cross-AZ ~1 ms):", "",
                *distance_note(stats, args.delay_us), "",
                "Model: hit ≈ client↔accelerator round trip + accelerator CPU; miss ≈ the same + n × store "
                "round trip (n = 1 for GetItem on Redis and PostgreSQL). The ratio grows linearly with the "
                "store's distance.", ""]
    text = "\n".join(doc)
    print()
    print(text)
    if not args.no_write:
        write_section("compare", text, Path(args.output))
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
