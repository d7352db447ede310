"""Several client processes against two accelerator processes sharing one backend.

Counters and compare-and-set updates must never lose an acknowledged operation; transfers and
checkouts run as transactions must keep their invariants; a SIGKILL during transactions must leave
no transaction half applied.
"""

from __future__ import annotations

import multiprocessing as mp
import random
import signal
import tempfile
import threading
import time
import uuid
from typing import Any

import pytest

from tests.conftest import boto_client, unique_name
from tests.e2e_backends import E2E_BACKENDS, SHARED_BACKENDS
from tests.server_process import ServerProcess

ACCOUNTS = 8
START_BALANCE = 100
STOCK = 40


def _two_servers(kind: str) -> list[ServerProcess]:
    backend = E2E_BACKENDS[kind]()
    if kind == "sqlite":
        backend["data_dir"] = tempfile.mkdtemp(prefix="accel-shared-")
    return [ServerProcess(backend).start(), ServerProcess(backend).start()]


def _create(url: str, table: str) -> None:
    boto_client(url).create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                  AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                                  BillingMode="PAY_PER_REQUEST")


def _counter_worker(urls: list[str], table: str, rounds: int, seed: int, out: Any) -> None:
    rng = random.Random(seed)
    clients = [boto_client(u, retries=1) for u in urls]
    adds = cas = 0
    for _ in range(rounds):
        c = rng.choice(clients)
        c.update_item(TableName=table, Key={"pk": {"S": "counter"}}, UpdateExpression="ADD n :one",
                      ExpressionAttributeValues={":one": {"N": "1"}})
        adds += 1
        current = c.get_item(TableName=table, Key={"pk": {"S": "cas"}}, ConsistentRead=True)["Item"]["v"]["N"]
        try:
            c.update_item(TableName=table, Key={"pk": {"S": "cas"}}, UpdateExpression="SET v = :new",
                          ConditionExpression="v = :old",
                          ExpressionAttributeValues={":old": {"N": current}, ":new": {"N": str(int(current) + 1)}})
            cas += 1
        except c.exceptions.ConditionalCheckFailedException:
            pass
    out.put((adds, cas))


@pytest.mark.parametrize("kind", SHARED_BACKENDS)
def test_counters_and_cas_never_lose_updates(kind: str) -> None:
    servers = _two_servers(kind)
    try:
        table = unique_name()
        _create(servers[0].url, table)
        c = boto_client(servers[1].url)
        c.put_item(TableName=table, Item={"pk": {"S": "cas"}, "v": {"N": "0"}})
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        procs = [ctx.Process(target=_counter_worker, args=([s.url for s in servers], table, 40, i, out))
                 for i in range(3)]
        for p in procs:
            p.start()
        results = [out.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(30)
        adds = sum(r[0] for r in results)
        cas = sum(r[1] for r in results)
        for s in servers:
            got = boto_client(s.url).get_item(TableName=table, Key={"pk": {"S": "counter"}}, ConsistentRead=True)
            assert got["Item"]["n"] == {"N": str(adds)}
            got = boto_client(s.url).get_item(TableName=table, Key={"pk": {"S": "cas"}}, ConsistentRead=True)
            assert got["Item"]["v"] == {"N": str(cas)}
        assert cas >= 1
    finally:
        for s in servers:
            s.stop()


def _transfer(client: Any, table: str, rng: random.Random) -> tuple[str, bool]:
    src, dst = rng.sample(range(ACCOUNTS), 2)
    amount = rng.randint(1, 60)
    tx = uuid.uuid4().hex
    try:
        client.transact_write_items(TransactItems=[
            {"Update": {"TableName": table, "Key": {"pk": {"S": f"acc{src}"}},
                        "UpdateExpression": "SET balance = balance - :a", "ConditionExpression": "balance >= :a",
                        "ExpressionAttributeValues": {":a": {"N": str(amount)}}}},
            {"Update": {"TableName": table, "Key": {"pk": {"S": f"acc{dst}"}},
                        "UpdateExpression": "SET balance = balance + :a",
                        "ExpressionAttributeValues": {":a": {"N": str(amount)}}}},
            {"Put": {"TableName": table, "Item": {"pk": {"S": f"tx#{tx}"}, "amount": {"N": str(amount)}}}},
        ])
        return tx, True
    except client.exceptions.TransactionCanceledException:
        return tx, False


def _checkout(client: Any, table: str, rng: random.Random) -> tuple[str, bool]:
    n = rng.randint(1, 5)
    order = uuid.uuid4().hex
    try:
        client.transact_write_items(TransactItems=[
            {"Update": {"TableName": table, "Key": {"pk": {"S": "stock"}},
                        "UpdateExpression": "SET stock = stock - :n", "ConditionExpression": "stock >= :n",
                        "ExpressionAttributeValues": {":n": {"N": str(n)}}}},
            {"Put": {"TableName": table, "Item": {"pk": {"S": f"order#{order}"}, "n": {"N": str(n)}},
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ])
        return order, True
    except client.exceptions.TransactionCanceledException:
        return order, False


def _txn_worker(urls: list[str], table: str, rounds: int, seed: int, out: Any) -> None:
    rng = random.Random(seed)
    clients = [boto_client(u, retries=1) for u in urls]
    done: list[tuple[str, str, bool]] = []
    for _ in range(rounds):
        c = rng.choice(clients)
        if rng.random() < 0.7:
            tx, ok = _transfer(c, table, rng)
            done.append(("tx", tx, ok))
        else:
            order, ok = _checkout(c, table, rng)
            done.append(("order", order, ok))
    out.put(done)


def _seed_accounts(url: str, table: str) -> None:
    c = boto_client(url)
    for i in range(ACCOUNTS):
        c.put_item(TableName=table, Item={"pk": {"S": f"acc{i}"}, "balance": {"N": str(START_BALANCE)}})
    c.put_item(TableName=table, Item={"pk": {"S": "stock"}, "stock": {"N": str(STOCK)}})


def _state(url: str, table: str) -> tuple[list[int], int, set[str], dict[str, int]]:
    items: list[dict[str, Any]] = []
    c = boto_client(url)
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = c.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    by_key = {i["pk"]["S"]: i for i in items}
    balances = [int(by_key[f"acc{i}"]["balance"]["N"]) for i in range(ACCOUNTS)]
    stock = int(by_key["stock"]["stock"]["N"])
    txs = {k[3:] for k in by_key if k.startswith("tx#")}
    orders = {k[6:]: int(v["n"]["N"]) for k, v in by_key.items() if k.startswith("order#")}
    return balances, stock, txs, orders


@pytest.mark.parametrize("kind", SHARED_BACKENDS)
def test_transfers_and_checkout_are_atomic(kind: str) -> None:
    servers = _two_servers(kind)
    try:
        table = unique_name()
        _create(servers[0].url, table)
        _seed_accounts(servers[1].url, table)
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        procs = [ctx.Process(target=_txn_worker, args=([s.url for s in servers], table, 40, i, out))
                 for i in range(3)]
        for p in procs:
            p.start()
        done = [entry for _ in procs for entry in out.get(timeout=180)]
        for p in procs:
            p.join(30)
        balances, stock, txs, orders = _state(servers[0].url, table)
        assert sum(balances) == ACCOUNTS * START_BALANCE
        assert min(balances) >= 0
        assert txs == {t for kind_, t, ok in done if kind_ == "tx" and ok}
        assert set(orders) == {o for kind_, o, ok in done if kind_ == "order" and ok}
        assert stock == STOCK - sum(orders.values()) and stock >= 0
        assert any(not ok for _, _, ok in done), "some transactions were cancelled by their conditions"
    finally:
        for s in servers:
            s.stop()


def test_sigkill_during_transactions_leaves_none_half_applied() -> None:
    server = ServerProcess({"kind": "sqlite"}).start()
    try:
        table = unique_name()
        _create(server.url, table)
        _seed_accounts(server.url, table)
        stop = threading.Event()
        rounds = [0] * 4

        def load(seed: int) -> None:
            rng = random.Random(seed)
            c = boto_client(server.url, retries=1)
            while not stop.is_set():
                try:
                    _transfer(c, table, rng)
                    _checkout(c, table, rng)
                    rounds[seed] += 1
                except Exception:
                    return

        threads = [threading.Thread(target=load, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60  # kill mid-load: once every worker has committed some rounds
        while min(rounds) < 10 and any(t.is_alive() for t in threads):
            assert time.monotonic() < deadline, "the load never got going"
            time.sleep(0.01)
        server.stop(signal.SIGKILL)
        stop.set()
        for t in threads:
            t.join(10)
        server.start()
        balances, stock, txs, orders = _state(server.url, table)
        assert sum(balances) == ACCOUNTS * START_BALANCE
        assert min(balances) >= 0
        assert stock == STOCK - sum(orders.values())
        assert txs or orders, "transactions ran before the kill"
    finally:
        server.stop()


@pytest.mark.parametrize("kind", SHARED_BACKENDS)
def test_client_request_token_is_idempotent_across_processes(kind: str) -> None:
    servers = _two_servers(kind)
    try:
        table = unique_name()
        _create(servers[0].url, table)
        a, b = boto_client(servers[0].url), boto_client(servers[1].url)
        a.put_item(TableName=table, Item={"pk": {"S": "ctr"}, "n": {"N": "0"}})
        items = [{"Update": {"TableName": table, "Key": {"pk": {"S": "ctr"}}, "UpdateExpression": "ADD n :one",
                             "ExpressionAttributeValues": {":one": {"N": "1"}}}}]
        token = uuid.uuid4().hex
        a.transact_write_items(TransactItems=items, ClientRequestToken=token)
        b.transact_write_items(TransactItems=items, ClientRequestToken=token)  # a retry landing on the other node
        got = b.get_item(TableName=table, Key={"pk": {"S": "ctr"}}, ConsistentRead=True)
        assert got["Item"]["n"] == {"N": "1"}
        other = [{"Update": {**items[0]["Update"], "ExpressionAttributeValues": {":one": {"N": "5"}}}}]
        with pytest.raises(b.exceptions.IdempotentParameterMismatchException):
            b.transact_write_items(TransactItems=other, ClientRequestToken=token)
    finally:
        for s in servers:
            s.stop()
