"""What TLS costs: GetItem cache hits over plain HTTP and over HTTPS, side by side in one run.

    python -m bench.tls_compare [--cpu 0] [--requests 5000] [--rounds 3] [--seconds 3] [--write]

Two accelerator processes (memory backend, cache on, auth off so only TLS differs), one plain and one with a
certificate from a throwaway CA (``tests/tls_certs.py``, made with ``cryptography``):
    latency     one keep-alive connection, one request at a time, client and both servers pinned to ``--cpu``;
                plain and TLS rounds alternate so machine drift hits both alike
    c32         32 keep-alive connections from one asyncio (uvloop) client for ``--seconds`` each, client
                unpinned: requests per second and the client-observed p50/p99
Writes the ``tls`` section of bench/RESULTS.md with ``--write``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import orjson

from bench.cache_hit import RawClient, get_body, item, load, pct, start, timed
from loadtest.results_md import write_section
from tests.tls_certs import make_ca_and_server_cert

__all__ = ["main"]

KEYS = 1000


def _server(work: Path, name: str, cpu: int, tls: tuple[Path, Path] | None) -> tuple[subprocess.Popen[bytes], int]:
    config = work / f"{name}.toml"
    lines = ["[server]"]
    if tls is not None:
        lines += [f'tls_cert = "{tls[0]}"', f'tls_key = "{tls[1]}"']
    config.write_text("\n".join(lines + ["[backend]", 'kind = "memory"', "[cache]", "enabled = true"]) + "\n")
    return start([sys.executable, "-m", "accelerator.cli", "serve", "--config", str(config), "--port", "0",
                  "--log-level", "warning"], cpu, rb":(\d+)\s*$", work / f"{name}.log")


async def _c32(port: int, context: ssl.SSLContext | None, seconds: float, concurrency: int = 32
               ) -> tuple[int, list[float]]:
    """Requests answered in ``seconds`` over ``concurrency`` keep-alive connections, and their latencies (µs)."""
    bodies = [get_body(i % KEYS) for i in range(KEYS)]
    head = (f"POST / HTTP/1.1\r\nHost: localhost:{port}\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\n"
            "Content-Type: application/x-amz-json-1.0\r\nContent-Length: ").encode()
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def user(n: int) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context,
                                                       server_hostname="localhost" if context else None)
        done, clock = 0, time.perf_counter_ns
        while time.perf_counter() < deadline:
            body = bodies[(n * 97 + done) % KEYS]
            t0 = clock()
            writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
            headers = await reader.readuntil(b"\r\n\r\n")
            length = int(headers.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            await reader.readexactly(length)
            latencies.append((clock() - t0) / 1000)
            done += 1
        writer.close()
        return done

    counts = await asyncio.gather(*(user(n) for n in range(concurrency)))
    return sum(counts), latencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tls_compare", description=__doc__.split("\n")[0])
    parser.add_argument("--cpu", type=int, default=0, help="the vCPU both servers and the latency client use")
    parser.add_argument("--requests", type=int, default=5000, help="hit requests per round and case")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each c32 run")
    parser.add_argument("--write", action="store_true", help="write the tls section of bench/RESULTS.md")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-tls-"))
    ca, cert, key = make_ca_and_server_cert(work)
    context = ssl.create_default_context(cafile=str(ca))
    plain, plain_port = _server(work, "plain", args.cpu, None)
    tls, tls_port = _server(work, "tls", args.cpu, (cert, key))
    try:
        clients = {"plain": RawClient("127.0.0.1", plain_port), "tls": RawClient("localhost", tls_port, context)}
        for client in clients.values():
            load(client, KEYS)
        samples = _latency(args, clients)
        import uvloop

        throughput = {}
        for case, port, ctx in (("plain", plain_port, None), ("tls", tls_port, context)):
            os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
            count, lat = uvloop.run(_c32(port, ctx, args.seconds))
            throughput[case] = (count / args.seconds, pct(lat, 50), pct(lat, 99))
    finally:
        for proc in (plain, tls):
            proc.terminate()
            proc.wait(15)
    text = report(args, samples, throughput)
    print(text)
    if args.write:
        write_section("tls", text)
        print("\nwrote the tls section of bench/RESULTS.md")
    return 0


def _latency(args: argparse.Namespace, clients: dict[str, RawClient]) -> dict[str, list[float]]:
    os.sched_setaffinity(0, {args.cpu})
    bodies = [get_body(i % KEYS) for i in range(args.requests)]
    statuses: dict[str, Counter[bytes]] = {case: Counter() for case in clients}
    for client in clients.values():
        timed(client, bodies[:1000], Counter())  # warm-up: every key cached
    samples: dict[str, list[float]] = {case: [] for case in clients}
    for _ in range(args.rounds):
        for case, client in clients.items():
            samples[case] += timed(client, bodies, statuses[case])
    for case, seen in statuses.items():
        assert set(seen) == {b"hit"}, (case, seen)  # every measured request was a cache hit
    return samples


def report(args: argparse.Namespace, samples: dict[str, list[float]],
           throughput: dict[str, tuple[float, float, float]]) -> str:
    item_bytes = len(orjson.dumps(item(1)))
    plain50, tls50 = statistics.median(samples["plain"]), statistics.median(samples["tls"])
    lines = ["## TLS: GetItem cache hits over plain HTTP and HTTPS", "",
             f"Measured {time.strftime('%Y-%m-%d %H:%M')} with `python -m bench.tls_compare --cpu {args.cpu} "
             f"--requests {args.requests} --rounds {args.rounds} --seconds {args.seconds:g}`: two accelerator "
             f"processes (memory backend, cache on, auth off), one with a TLS certificate (ECDSA P-256, "
             f"{ssl.OPENSSL_VERSION}); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} vCPUs. "
             f"Latency: one keep-alive connection, client and servers pinned to vCPU {args.cpu}. "
             f"c32: 32 keep-alive connections from one uvloop client for {args.seconds:g} s (item ~{item_bytes} B "
             "of JSON). The client is one Python process doing its own TLS, so on a small machine the c32 "
             "ratio counts client-side TLS work too.",
             "", "| case | hit p50 µs | hit p99 µs | c32 req/s | c32 p50 µs | c32 p99 µs |",
             "|---|---:|---:|---:|---:|---:|"]
    for case, label in (("plain", "plain HTTP"), ("tls", "HTTPS (TLS)")):
        rps, p50, p99 = throughput[case]
        lines.append(f"| {label} | {pct(samples[case], 50):.1f} | {pct(samples[case], 99):.1f} | {rps:,.0f} | "
                     f"{p50:.0f} | {p99:.0f} |")
    lines += ["", f"TLS adds {tls50 - plain50:.1f} µs to a hit's median round trip ({tls50 / plain50:.2f}x) and "
              f"keeps {throughput['tls'][0] / throughput['plain'][0]:.0%} of the c32 throughput."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
