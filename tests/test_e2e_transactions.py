"""TransactGetItems and TransactWriteItems through boto3: all-or-nothing, reasons, idempotency."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest


def _put(table: str, pk: str, **attrs: Any) -> dict[str, Any]:
    return {"Put": {"TableName": table, "Item": {"pk": {"S": pk}, **attrs}}}


def _get(ddb: Any, table: str, pk: str) -> dict[str, Any] | None:
    return ddb.get_item(TableName=table, Key={"pk": {"S": pk}}, ConsistentRead=True).get("Item")


def test_transact_write_all_kinds(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={"pk": {"S": "upd"}, "n": {"N": "1"}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "del"}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "chk"}, "ok": {"BOOL": True}})
    ddb.transact_write_items(TransactItems=[
        _put(table, "new", v={"S": "x"}),
        {"Update": {"TableName": table, "Key": {"pk": {"S": "upd"}}, "UpdateExpression": "SET n = n + :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        {"Delete": {"TableName": table, "Key": {"pk": {"S": "del"}}}},
        {"ConditionCheck": {"TableName": table, "Key": {"pk": {"S": "chk"}}, "ConditionExpression": "ok = :t",
                            "ExpressionAttributeValues": {":t": {"BOOL": True}}}},
    ])
    assert _get(ddb, table, "new") == {"pk": {"S": "new"}, "v": {"S": "x"}}
    assert _get(ddb, table, "upd")["n"] == {"N": "2"}  # type: ignore[index]
    assert _get(ddb, table, "del") is None
    got = ddb.transact_get_items(TransactItems=[
        {"Get": {"TableName": table, "Key": {"pk": {"S": "new"}}}},
        {"Get": {"TableName": table, "Key": {"pk": {"S": "missing"}}}},
        {"Get": {"TableName": table, "Key": {"pk": {"S": "upd"}}, "ProjectionExpression": "n"}},
    ])["Responses"]
    assert got[0]["Item"]["v"] == {"S": "x"}
    assert got[1] == {}
    assert got[2]["Item"] == {"n": {"N": "2"}}


def test_cancelled_transaction_changes_nothing(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}, "n": {"N": "5"}})
    with pytest.raises(ddb.exceptions.TransactionCanceledException) as exc:
        ddb.transact_write_items(TransactItems=[
            _put(table, "b", v={"S": "should not exist"}),
            {"Update": {"TableName": table, "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET n = :v",
                        "ConditionExpression": "n > :big",
                        "ExpressionAttributeValues": {":v": {"N": "0"}, ":big": {"N": "100"}},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
            {"Delete": {"TableName": table, "Key": {"pk": {"S": "c"}}, "ConditionExpression": "attribute_exists(pk)"}},
        ])
    reasons = exc.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None", "ConditionalCheckFailed", "ConditionalCheckFailed"]
    assert reasons[1]["Item"] == {"pk": {"S": "a"}, "n": {"N": "5"}}
    assert "Item" not in reasons[2]
    assert _get(ddb, table, "b") is None
    assert _get(ddb, table, "a")["n"] == {"N": "5"}  # type: ignore[index]


def test_two_actions_on_one_item_rejected(ddb: Any, table: str) -> None:
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.transact_write_items(TransactItems=[_put(table, "a"), {"Delete": {"TableName": table,
                                                                             "Key": {"pk": {"S": "a"}}}}])
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert "multiple operations on one item" in exc.value.response["Error"]["Message"]
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": {"pk": {"S": "a"}}}}] * 2)
    assert exc.value.response["Error"]["Code"] == "ValidationException"


def test_limits(ddb: Any, table: str) -> None:
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.transact_write_items(TransactItems=[_put(table, f"k{i}") for i in range(101)])
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ddb.exceptions.ResourceNotFoundException):
        ddb.transact_write_items(TransactItems=[_put("no_such_table", "a")])


def test_idempotency_token(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={"pk": {"S": "ctr"}, "n": {"N": "0"}})
    token = str(uuid.uuid4())
    items = [{"Update": {"TableName": table, "Key": {"pk": {"S": "ctr"}}, "UpdateExpression": "ADD n :one",
                         "ExpressionAttributeValues": {":one": {"N": "1"}}}}]
    ddb.transact_write_items(TransactItems=items, ClientRequestToken=token)
    ddb.transact_write_items(TransactItems=items, ClientRequestToken=token)
    assert _get(ddb, table, "ctr")["n"] == {"N": "1"}  # type: ignore[index]
    other = [{"Update": {**items[0]["Update"], "ExpressionAttributeValues": {":one": {"N": "2"}}}}]
    with pytest.raises(ddb.exceptions.IdempotentParameterMismatchException):
        ddb.transact_write_items(TransactItems=other, ClientRequestToken=token)
    ddb.transact_write_items(TransactItems=items, ClientRequestToken=str(uuid.uuid4()))
    assert _get(ddb, table, "ctr")["n"] == {"N": "2"}  # type: ignore[index]


def test_across_tables(ddb: Any, make_table: Callable[..., str]) -> None:
    a, b = make_table(), make_table()
    ddb.transact_write_items(TransactItems=[_put(a, "x"), _put(b, "x")])
    assert _get(ddb, a, "x") is not None and _get(ddb, b, "x") is not None
