"""No response is an error after a commit: what boto3 sends (a ClientRequestToken, ReturnConsumedCapacity)
and a seeded mix of every optional member of every write operation, on every backend."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import boto_client
from tests.server_process import ServerProcess

_MODES = ("TOTAL", "INDEXES", "NONE")


def _transaction(table: str, mode: str) -> dict[str, Any]:
    return {"TransactItems": [
        {"Put": {"TableName": table, "Item": {"pk": {"S": "a"}, "v": {"S": "x" * 1500}}}},
        {"Update": {"TableName": table, "Key": {"pk": {"S": "b"}}, "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
    ], "ClientRequestToken": uuid.uuid4().hex, "ReturnConsumedCapacity": mode}


@pytest.mark.parametrize("mode", _MODES)
def test_transaction_with_token_and_capacity_commits_and_answers(server: ServerProcess, table: str,
                                                                 mode: str) -> None:
    ddb = boto_client(server.url, retries=0)  # no retry to hide a 500 (botocore's max_attempts counts retries)
    request = _transaction(table, mode)
    first = ddb.transact_write_items(**request)
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 200
    again = ddb.transact_write_items(**request)  # what an SDK retry sends (its replay is test_idempotency_token's)
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "a"}}, ConsistentRead=True)["Item"]["v"]["S"] == "x" * 1500


@pytest.mark.parametrize("mode", _MODES)
def test_transaction_with_token_reports_capacity(server: ServerProcess, table: str, mode: str) -> None:
    first = boto_client(server.url, retries=0).transact_write_items(**_transaction(table, mode))
    if mode == "NONE":
        assert "ConsumedCapacity" not in first
        return
    (used,) = first["ConsumedCapacity"]
    assert used["TableName"] == table
    assert used["CapacityUnits"] == 2 * (2 + 1)  # a 1.5 KB put is 2 units, the update 1; doubled


@pytest.mark.parametrize("mode", _MODES)
def test_a_replayed_transaction_reports_reading_its_items(server: ServerProcess, table: str, mode: str) -> None:
    ddb = boto_client(server.url, retries=0)
    request = _transaction(table, mode)
    ddb.transact_write_items(**request)
    again = ddb.transact_write_items(**request)
    if mode == "NONE":
        assert "ConsumedCapacity" not in again
        return
    # As DynamoDB documents: the replay returns "the read capacity units consumed in reading the item" (a
    # transactional read of each, 2 units up to 4 KB), not the first call's 6 write units, and never [].
    expected = {"TableName": table, "CapacityUnits": 2 * (1 + 1)}
    if mode == "INDEXES":
        expected["Table"] = {"CapacityUnits": 4.0}
    assert again["ConsumedCapacity"] == [expected]


def _value(rng: random.Random) -> dict[str, Any]:
    return rng.choice([{"S": "s" * rng.randint(1, 3000)}, {"N": str(rng.randint(-5, 5))}, {"BOOL": True},
                       {"L": [{"S": "x"}]}, {"M": {"k": {"N": "1"}}}, {"SS": ["a", "b"]}])


def _optional(rng: random.Random, members: dict[str, tuple[Any, ...]]) -> dict[str, Any]:
    return {k: rng.choice(choices) for k, choices in members.items() if rng.random() < 0.6}


def _condition(rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.5:
        return {}
    return {"ConditionExpression": rng.choice(["attribute_exists(pk)", "attribute_not_exists(pk)", "v <> :c"]),
            "ExpressionAttributeValues": {":c": {"S": "never"}}}


def _request(rng: random.Random, table: str) -> tuple[str, dict[str, Any]]:
    key = {"pk": {"S": f"k{rng.randint(0, 5)}"}}
    capacity = {"ReturnConsumedCapacity": ("TOTAL", "INDEXES", "NONE"),
                "ReturnItemCollectionMetrics": ("SIZE", "NONE")}
    on_fail = {"ReturnValuesOnConditionCheckFailure": ("ALL_OLD", "NONE")}
    op = rng.choice(["PutItem", "DeleteItem", "UpdateItem", "BatchWriteItem", "TransactWriteItems"])
    if op == "PutItem":
        req = {"TableName": table, "Item": {**key, "v": _value(rng)}, **_condition(rng),
               **_optional(rng, {**capacity, **on_fail, "ReturnValues": ("NONE", "ALL_OLD")})}
    elif op == "DeleteItem":
        req = {"TableName": table, "Key": key, **_condition(rng),
               **_optional(rng, {**capacity, **on_fail, "ReturnValues": ("NONE", "ALL_OLD")})}
    elif op == "UpdateItem":
        cond = _condition(rng)
        values = {**cond.get("ExpressionAttributeValues", {}), ":v": _value(rng)}
        req = {"TableName": table, "Key": key, "UpdateExpression": "SET v = :v", **cond,
               "ExpressionAttributeValues": values,
               **_optional(rng, {**capacity, **on_fail, "ReturnValues": (
                   "NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW")})}
    elif op == "BatchWriteItem":
        keys = rng.sample(range(6), rng.randint(1, 4))
        req = {"RequestItems": {table: [
            {"PutRequest": {"Item": {"pk": {"S": f"k{k}"}, "v": _value(rng)}}} if rng.random() < 0.6
            else {"DeleteRequest": {"Key": {"pk": {"S": f"k{k}"}}}} for k in keys]}, **_optional(rng, capacity)}
    else:
        actions = []
        for k in rng.sample(range(6), rng.randint(1, 4)):
            body: dict[str, Any] = {"TableName": table, "Key": {"pk": {"S": f"k{k}"}}, **_condition(rng),
                                    **_optional(rng, on_fail)}
            kind = rng.choice(["Put", "Update", "Delete", "ConditionCheck"])
            if kind == "Put":
                body["Item"] = {**body.pop("Key"), "v": _value(rng)}
            elif kind == "Update":
                body["UpdateExpression"] = "SET v = :v"
                body["ExpressionAttributeValues"] = {**body.get("ExpressionAttributeValues", {}), ":v": _value(rng)}
            elif "ConditionExpression" not in body:
                body.update(ConditionExpression="attribute_not_exists(zz)")
            actions.append({kind: body})
        req = {"TransactItems": actions, **_optional(rng, {**capacity, "ClientRequestToken": (
            uuid.uuid4().hex, "fixed-token-" + table)})}
    return op, req


_CALLS = {"PutItem": "put_item", "DeleteItem": "delete_item", "UpdateItem": "update_item",
          "BatchWriteItem": "batch_write_item", "TransactWriteItems": "transact_write_items"}


def test_every_optional_member_of_every_write_answers_without_a_server_error(server: ServerProcess,
                                                                            table: str) -> None:
    ddb = boto_client(server.url, retries=0)
    rng = random.Random(17)
    for _ in range(120):
        op, req = _request(rng, table)
        try:
            out = getattr(ddb, _CALLS[op])(**req)
        except ClientError as exc:
            status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
            assert status < 500, (op, req, exc.response["Error"])
            continue
        assert out["ResponseMetadata"]["HTTPStatusCode"] == 200
        if req.get("ReturnConsumedCapacity") in ("TOTAL", "INDEXES"):
            assert "ConsumedCapacity" in out, (op, req, out)
