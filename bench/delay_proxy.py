"""A TCP proxy that adds a fixed delay to every chunk it forwards towards the upstream: simulated distance.

For a request/response protocol on one connection (HTTP keep-alive, RESP, the PostgreSQL wire protocol),
delaying the requests by D adds D to every round trip, which is what a store one network hop away costs.
Threads with blocking sockets, the timer slack lowered to 1 ns so a 200 µs sleep lasts ~200 µs, not 260 µs;
the added round trip is measured by ``bench.compare`` (a direct Redis GET, and the same GET through here).

    python -m bench.delay_proxy --listen 16379 --upstream 127.0.0.1:6379 --delay-us 200
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import socket
import threading
import time

__all__ = ["main"]


def _low_timer_slack() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(29, 1, 0, 0, 0)  # PR_SET_TIMERSLACK: 1 ns (Linux; per thread, inherited)


def _pump(src: socket.socket, dst: socket.socket, delay: float) -> None:
    try:
        while data := src.recv(65536):
            if delay:
                due = time.perf_counter() + delay
                time.sleep(max(0.0, due - time.perf_counter() - 20e-6))
                while time.perf_counter() < due:  # the last ~20 µs spun: sleep alone overshoots
                    pass
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def _handle(client: socket.socket, upstream: tuple[str, int], delay: float) -> None:
    try:
        server = socket.create_connection(upstream, timeout=10)
    except OSError:
        client.close()
        return
    server.settimeout(None)
    for s in (client, server):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    threading.Thread(target=_pump, args=(client, server, delay), daemon=True).start()
    threading.Thread(target=_pump, args=(server, client, 0.0), daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.delay_proxy", description=__doc__.split("\n")[0])
    parser.add_argument("--listen", type=int, required=True, help="port on 127.0.0.1")
    parser.add_argument("--upstream", required=True, help="host:port")
    parser.add_argument("--delay-us", type=float, default=200.0, help="added to each request, in µs")
    args = parser.parse_args(argv)
    host, _, port = args.upstream.rpartition(":")
    _low_timer_slack()
    listener = socket.create_server(("127.0.0.1", args.listen), reuse_port=False)
    print(f"delay proxy 127.0.0.1:{args.listen} -> {args.upstream} (+{args.delay_us:g} us)", flush=True)
    while True:
        client, _ = listener.accept()
        _handle(client, (host or "127.0.0.1", int(port)), args.delay_us / 1e6)


if __name__ == "__main__":
    main()
