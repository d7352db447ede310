"""``accelerator serve --workers 2``: one port, two processes, coherent caches, one answer for admin.

The kernel chooses the worker of each connection (SO_REUSEPORT), so the tests open connections until
every worker is reached and tell them apart by the ``x-accelerator-worker`` response header.
"""

from __future__ import annotations

import os
import random
import signal
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from loadtest.wire import Connection
from tests.server_process import ServerProcess

TABLE = "workers_coherence"
WORKERS = 2


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return orjson.loads(response.read())


def _post_json(url: str) -> Any:
    request = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return orjson.loads(response.read())


def _worker_connections(url: str, per_worker: int = 2, limit: int = 400) -> dict[int, list[Connection]]:
    """Keep-alive connections grouped by the worker that answers them, ``per_worker`` each."""
    found: dict[int, list[Connection]] = {}
    spare: list[Connection] = []
    for _ in range(limit):
        conn = Connection(url)
        reply = conn.request("ListTables", b"{}")
        assert reply.status == 200
        index = int(reply.headers["x-accelerator-worker"])
        group = found.setdefault(index, [])
        (group if len(group) < per_worker else spare).append(conn)
        if len(found) == WORKERS and all(len(g) == per_worker for g in found.values()):
            break
    for conn in spare:
        conn.close()
    assert sorted(found) == list(range(WORKERS)), f"reached workers {sorted(found)} only"
    return found


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    proc = ServerProcess({"kind": "sqlite"}, cache={"enabled": True, "item_ttl": 3600.0, "query_ttl": 3600.0},
                         server={"workers": WORKERS}).start()
    try:
        conn = Connection(proc.url)
        conn.call("CreateTable", {
            "TableName": TABLE, "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                     {"AttributeName": "sk", "AttributeType": "N"}]})
        conn.close()
        yield proc
    finally:
        proc.stop()


def _key(i: int) -> dict[str, Any]:
    return {"pk": {"S": f"p{i % 5}"}, "sk": {"N": str(i)}}


def _read(conn: Connection, i: int) -> tuple[int | None, str]:
    reply = conn.request("GetItem", orjson.dumps({"TableName": TABLE, "Key": _key(i)}))
    assert reply.status == 200, reply.body
    item = orjson.loads(reply.body).get("Item")
    return (None if item is None else int(item["v"]["N"])), reply.headers.get("x-accelerator-cache", "")


def _query(conn: Connection, partition: int) -> tuple[dict[int, int], str]:
    reply = conn.request("Query", orjson.dumps({
        "TableName": TABLE, "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": {":p": {"S": f"p{partition}"}}}))
    assert reply.status == 200, reply.body
    items = orjson.loads(reply.body)["Items"]
    return {int(it["sk"]["N"]): int(it["v"]["N"]) for it in items}, reply.headers.get("x-accelerator-cache", "")


def test_no_stale_hit_on_any_worker_after_an_acknowledged_write(server: ServerProcess) -> None:
    groups = _worker_connections(server.url)
    rng = random.Random(16)
    keys = 20
    truth: dict[int, int | None] = dict.fromkeys(range(keys))
    hits = dict.fromkeys(groups, 0)
    for step in range(400):
        writer = groups[rng.randrange(WORKERS)][rng.randrange(2)]  # writes land on either worker
        i = rng.randrange(keys)
        if rng.random() < 0.8:
            writer.call("PutItem", {"TableName": TABLE, "Item": {**_key(i), "v": {"N": str(step)}}})
            truth[i] = step
        elif rng.random() < 0.5:
            writer.call("UpdateItem", {"TableName": TABLE, "Key": _key(i), "UpdateExpression": "SET v = :v",
                                       "ExpressionAttributeValues": {":v": {"N": str(step)}}})
            truth[i] = step
        else:
            writer.call("DeleteItem", {"TableName": TABLE, "Key": _key(i)})
            truth[i] = None
        for index, conns in groups.items():  # every worker, twice: the second read is a hit if the first filled
            for conn in conns:
                j = i if rng.random() < 0.6 else rng.randrange(keys)
                value, cache = _read(conn, j)
                assert value == truth[j], f"step {step}: worker {index} answered {value} for key {j} ({cache})"
                hits[index] += cache == "hit"
            partition = rng.randrange(5)
            page, _ = _query(conns[0], partition)
            expected = {k: v for k, v in truth.items() if k % 5 == partition and v is not None}
            assert page == expected, f"step {step}: worker {index} query page is stale"
    assert all(n > 50 for n in hits.values()), hits  # the hits were real: the check ran on cached entries


def test_admin_and_metrics_answer_for_every_worker(server: ServerProcess) -> None:
    groups = _worker_connections(server.url)
    for conns in groups.values():
        conn = conns[0]
        conn.call("PutItem", {"TableName": TABLE, "Item": {**_key(900), "v": {"N": "1"}}})
        assert _read(conn, 900)[1] == "hit"
    stats = _get_json(server.url + "/admin/cache")
    assert stats["workers"] == {"count": WORKERS, "answered": WORKERS}
    assert stats["item_cache"]["entries"] >= WORKERS
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    for index in range(WORKERS):
        assert f'ItemCacheHits_total{{worker="{index}"}}' in text
    table = _get_json(server.url + f"/admin/cache/tables/{TABLE}")
    assert table["workers"]["answered"] == WORKERS
    flushed = _post_json(server.url + f"/admin/cache/flush/{TABLE}")
    assert flushed["workers"]["answered"] == WORKERS and flushed["entries"] >= WORKERS
    for conns in groups.values():
        assert _read(conns[0], 900) == (1, "miss")  # every worker dropped the table's entries


def test_a_dead_worker_is_restarted_and_sigterm_drains_all() -> None:
    proc = ServerProcess({"kind": "sqlite"}, server={"workers": WORKERS}).start()
    try:
        assert proc.proc is not None
        children = open(f"/proc/{proc.proc.pid}/task/{proc.proc.pid}/children").read().split()  # noqa: SIM115
        assert len(children) == WORKERS
        os.kill(int(children[0]), signal.SIGKILL)
        deadline = time.monotonic() + 120  # a bound for a broken run, not a timing
        while True:  # until a new worker answers beside the survivor
            now = open(f"/proc/{proc.proc.pid}/task/{proc.proc.pid}/children").read().split()  # noqa: SIM115
            if len(now) == WORKERS and children[0] not in now:
                try:
                    _worker_connections(proc.url, per_worker=1)
                    break
                except (AssertionError, OSError):
                    pass
            assert time.monotonic() < deadline, "the killed worker was not replaced"
            time.sleep(0.05)
    finally:
        code = proc.stop(signal.SIGTERM)
    assert code == 0


@pytest.mark.parametrize(("args", "message"), [
    (["--backend", "memory", "--workers", "2"], "the memory backend lives in one process"),
    (["--backend", "sqlite", "--workers", "0"], 'expected a positive integer or "auto", got 0'),
    (["--backend", "sqlite", "--workers", "many"], "--workers"),
])
def test_bad_worker_settings_are_one_line_and_exit_2(args: list[str], message: str, tmp_path: Any) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "accelerator.cli", "serve", "--port", "0", "--data-dir",
                           str(tmp_path), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_a_port_in_use_is_one_line(tmp_path: Any) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as taken:  # bound without SO_REUSEPORT: no worker may share it
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "accelerator.cli", "serve", "--port", str(port), "--workers",
                               "2", "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert f"127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr


def _alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()[0]  # noqa: SIM115
    except OSError:
        return False
    return state != "Z"


def test_workers_stop_when_the_supervisor_is_killed() -> None:
    proc = ServerProcess({"kind": "sqlite"}, server={"workers": WORKERS}).start()
    children: list[int] = []
    try:
        assert proc.proc is not None
        children = [int(c) for c in
                    open(f"/proc/{proc.proc.pid}/task/{proc.proc.pid}/children").read().split()]  # noqa: SIM115
        assert len(children) == WORKERS
        proc.proc.kill()  # SIGKILL: the supervisor cannot pass anything on
        proc.proc.wait()
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in children):  # each drains and exits on the kernel's SIGTERM
            assert time.monotonic() < deadline, "workers outlived their supervisor"
            time.sleep(0.05)
    finally:
        proc.stop()
        for pid in children:  # never leave a worker behind, even when the test fails
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_the_unsigned_metrics_listener_answers_for_every_worker() -> None:
    from tests.server_process import free_port

    port = free_port()
    proc = ServerProcess({"kind": "sqlite"}, server={"workers": WORKERS, "metrics_listen": f"127.0.0.1:{port}"}).start()
    try:
        groups = _worker_connections(proc.url, per_worker=1)
        for conns in groups.values():
            conns[0].call("ListTables", {})
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
        for index in range(WORKERS):
            assert f'accelerator_requests_total{{operation="ListTables",worker="{index}"}}' in text
    finally:
        proc.stop()
