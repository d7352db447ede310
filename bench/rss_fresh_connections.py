"""Server RSS under a flood of large bodies, each on a fresh connection (and, for contrast, on one kept-alive one).

Starts ``accelerator serve`` (memory backend), sends ``count`` PutItem bodies of ``size`` bytes (too large for
an item, so each is parsed and answered 400 and nothing is stored), and reads the server's VmRSS before and
after. tests/test_server_limits.py asserts the bound; this writes the measured figures.

    python -m bench.rss_fresh_connections [--write]
"""

from __future__ import annotations

import argparse
import socket

from tests.server_process import ServerProcess
from tests.test_server_limits import MB, RSS_BOUND, _item_body, _post_once, _rss

CASES = ((1 * MB, 400), (16 * MB, 24))


def _keep_alive(port: int, body: bytes, count: int) -> None:
    head = (b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.PutItem\r\n"
            b"Content-Type: application/x-amz-json-1.0\r\nContent-Length: %d\r\n\r\n" % len(body))
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        for _ in range(count):
            s.sendall(head + body)
            got = b""
            while b"\r\n\r\n" not in got:
                got += s.recv(65536)
            header, _, rest = got.partition(b"\r\n\r\n")
            length = int(header.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            while len(rest) < length:
                rest += s.recv(65536)


def measure() -> list[tuple[str, int, int, float, float]]:
    rows = []
    for fresh in (True, False):
        for size, count in CASES:
            server = ServerProcess({"kind": "memory"}).start()
            try:
                assert server.proc is not None
                body = _item_body(size)
                for _ in range(8):
                    _post_once(server.port, body)
                before = _rss(server.proc.pid)
                if fresh:
                    for _ in range(count):
                        _post_once(server.port, body)
                else:
                    _keep_alive(server.port, body, count)
                after = _rss(server.proc.pid)
            finally:
                server.stop()
            rows.append(("fresh connection each" if fresh else "one kept-alive connection", size, count,
                         before / MB, after / MB))
    return rows


def markdown(rows: list[tuple[str, int, int, float, float]]) -> str:
    lines = ["## Server memory under large bodies", "",
             "`python -m bench.rss_fresh_connections --write`: `accelerator serve` on the memory backend, PutItem "
             "bodies too large for an item (parsed, answered 400, nothing stored); VmRSS of the server before and "
             f"after. tests/test_server_limits.py fails above {RSS_BOUND // MB} MB of growth.", "",
             "| connections | body | requests | RSS before MB | RSS after MB | growth MB |", "|---|---|---|---|---|---|"]
    for how, size, count, before, after in rows:
        lines.append(f"| {how} | {size // MB} MB | {count} | {before:.0f} | {after:.0f} | {after - before:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="write the section into bench/RESULTS.md")
    options = parser.parse_args()
    text = markdown(measure())
    print(text)
    if options.write:
        from loadtest.results_md import write_section

        write_section("rss-fresh-connections", text)
