"""Local and global secondary indexes: creation, upkeep on every kind of write, Query and Scan."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import unique_name


def _put(ddb: Any, table: str, user: str, ts: int, status: str | None, score: int | None, **extra: Any) -> None:
    item: dict[str, Any] = {"user": {"S": user}, "ts": {"N": str(ts)}, **extra}
    if status is not None:
        item["status"] = {"S": status}
    if score is not None:
        item["score"] = {"N": str(score)}
    ddb.put_item(TableName=table, Item=item)


def _q(ddb: Any, table: str, index: str, expr: str, values: dict[str, Any], **kw: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = ddb.query(TableName=table, IndexName=index, KeyConditionExpression=expr,
                         ExpressionAttributeValues=values, **kw, **kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_describe_shows_indexes(ddb: Any, indexed: str) -> None:
    table = ddb.describe_table(TableName=indexed)["Table"]
    assert [i["IndexName"] for i in table["LocalSecondaryIndexes"]] == ["by_score"]
    gsis = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
    assert set(gsis) == {"by_status", "status_only"}
    assert gsis["by_status"]["IndexStatus"] == "ACTIVE"
    assert gsis["status_only"]["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["note"]}
    assert indexed not in [n for n in ddb.list_tables()["TableNames"] if "!" in n]


def test_gsi_query_order_projection_and_pagination(ddb: Any, indexed: str) -> None:
    for i, (status, score) in enumerate([("open", 5), ("open", -1), ("done", 3), ("open", 12), (None, 7),
                                         ("open", None)]):
        _put(ddb, indexed, f"u{i % 2}", i, status, score, note={"S": f"n{i}"}, other={"S": "x"})
    values = {":s": {"S": "open"}}
    got = _q(ddb, indexed, "by_status", "#s = :s", values, ExpressionAttributeNames={"#s": "status"}, Limit=2)
    assert [i["score"]["N"] for i in got] == ["-1", "5", "12"]
    assert all("other" in i for i in got), "ALL projection keeps every attribute"
    rev = _q(ddb, indexed, "by_status", "#s = :s AND score > :z", {**values, ":z": {"N": "0"}},
             ExpressionAttributeNames={"#s": "status"}, ScanIndexForward=False)
    assert [i["score"]["N"] for i in rev] == ["12", "5"]
    between = _q(ddb, indexed, "by_status", "#s = :s AND score BETWEEN :a AND :b",
                 {**values, ":a": {"N": "-1"}, ":b": {"N": "5"}}, ExpressionAttributeNames={"#s": "status"})
    assert [i["score"]["N"] for i in between] == ["-1", "5"]
    included = _q(ddb, indexed, "status_only", "#s = :s", values, ExpressionAttributeNames={"#s": "status"})
    assert len(included) == 4, "status_only has no sort key, so the item without a score is in it"
    assert all(set(i) <= {"user", "ts", "status", "note"} and "note" in i for i in included)
    page = ddb.query(TableName=indexed, IndexName="by_status", KeyConditionExpression="#s = :s", Limit=1,
                     ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues=values)
    assert set(page["LastEvaluatedKey"]) == {"user", "ts", "status", "score"}


def test_index_follows_updates_deletes_and_transactions(ddb: Any, indexed: str) -> None:
    _put(ddb, indexed, "a", 1, "open", 1)
    _put(ddb, indexed, "a", 2, "open", 2)
    ddb.update_item(TableName=indexed, Key={"user": {"S": "a"}, "ts": {"N": "1"}},
                    UpdateExpression="SET #s = :d", ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":d": {"S": "done"}})
    names = {"#s": "status"}
    assert [i["ts"]["N"] for i in _q(ddb, indexed, "by_status", "#s = :s", {":s": {"S": "open"}},
                                      ExpressionAttributeNames=names)] == ["2"]
    assert [i["ts"]["N"] for i in _q(ddb, indexed, "by_status", "#s = :s", {":s": {"S": "done"}},
                                      ExpressionAttributeNames=names)] == ["1"]
    ddb.update_item(TableName=indexed, Key={"user": {"S": "a"}, "ts": {"N": "1"}}, UpdateExpression="REMOVE #s",
                    ExpressionAttributeNames=names)
    assert _q(ddb, indexed, "by_status", "#s = :s", {":s": {"S": "done"}}, ExpressionAttributeNames=names) == []
    ddb.delete_item(TableName=indexed, Key={"user": {"S": "a"}, "ts": {"N": "2"}})
    assert _q(ddb, indexed, "by_status", "#s = :s", {":s": {"S": "open"}}, ExpressionAttributeNames=names) == []
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": indexed, "Item": {"user": {"S": "t"}, "ts": {"N": "1"}, "status": {"S": "tx"},
                                                "score": {"N": "9"}}}},
        {"Put": {"TableName": indexed, "Item": {"user": {"S": "t"}, "ts": {"N": "2"}, "status": {"S": "tx"},
                                                "score": {"N": "8"}}}},
    ])
    assert [i["score"]["N"] for i in _q(ddb, indexed, "by_status", "#s = :s", {":s": {"S": "tx"}},
                                         ExpressionAttributeNames=names)] == ["8", "9"]
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": indexed, "Item": {"user": {"S": "t"}, "ts": {"N": "3"}, "status": {"S": "tx"},
                                                    "score": {"N": "1"}}}},
            {"ConditionCheck": {"TableName": indexed, "Key": {"user": {"S": "t"}, "ts": {"N": "1"}},
                                "ConditionExpression": "attribute_not_exists(#u)",
                                "ExpressionAttributeNames": {"#u": "user"}}},
        ])
    assert len(_q(ddb, indexed, "by_status", "#s = :s", {":s": {"S": "tx"}}, ExpressionAttributeNames=names)) == 2
    ddb.batch_write_item(RequestItems={indexed: [{"DeleteRequest": {"Key": {"user": {"S": "t"}, "ts": {"N": "1"}}}}]})
    assert len(_q(ddb, indexed, "by_status", "#s = :s", {":s": {"S": "tx"}}, ExpressionAttributeNames=names)) == 1


def test_lsi_query_and_fetch_all_attributes(ddb: Any, indexed: str) -> None:
    for ts, score in [(1, 30), (2, 10), (3, 20)]:
        _put(ddb, indexed, "u", ts, "open", score, payload={"S": f"p{ts}"})
    keys_only = _q(ddb, indexed, "by_score", "#u = :u", {":u": {"S": "u"}}, ExpressionAttributeNames={"#u": "user"})
    assert [i["ts"]["N"] for i in keys_only] == ["2", "3", "1"]
    assert all("payload" not in i for i in keys_only)
    full = _q(ddb, indexed, "by_score", "#u = :u AND score >= :m", {":u": {"S": "u"}, ":m": {"N": "20"}},
              ExpressionAttributeNames={"#u": "user"}, Select="ALL_ATTRIBUTES")
    assert [i["payload"]["S"] for i in full] == ["p3", "p1"]


def test_index_scan_and_errors(ddb: Any, indexed: str) -> None:
    _put(ddb, indexed, "a", 1, "open", 1)
    _put(ddb, indexed, "b", 1, None, 2)
    scanned = ddb.scan(TableName=indexed, IndexName="by_status")["Items"]
    assert [i["user"]["S"] for i in scanned] == ["a"], "sparse: the item without status is not in the index"
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.query(TableName=indexed, IndexName="by_status", KeyConditionExpression="#s = :s", ConsistentRead=True,
                  ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":s": {"S": "open"}})
    assert "Consistent reads are not supported" in exc.value.response["Error"]["Message"]
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.query(TableName=indexed, IndexName="nope", KeyConditionExpression="#s = :s",
                  ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":s": {"S": "open"}})
    assert "does not have the specified index" in exc.value.response["Error"]["Message"]
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.put_item(TableName=indexed, Item={"user": {"S": "c"}, "ts": {"N": "1"}, "status": {"N": "5"}})
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert "Item" not in ddb.get_item(TableName=indexed, Key={"user": {"S": "c"}, "ts": {"N": "1"}})


# Each request has exactly one fault, so the error DynamoDB reports is not a matter of check order.
@pytest.mark.parametrize("change, extra_attrs, fragment", [
    ({"LocalSecondaryIndexes": [{"IndexName": "lsi1", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "x", "KeyType": "HASH"},
                                               {"AttributeName": "y", "KeyType": "RANGE"}]}]}, ("x", "y"),
     "same leading hash key"),
    ({"GlobalSecondaryIndexes": [{"IndexName": "gsi1", "Projection": {"ProjectionType": "ALL"},
                                  "KeySchema": [{"AttributeName": "zz", "KeyType": "HASH"}]}]}, (), "zz"),
    ({"GlobalSecondaryIndexes": [{"IndexName": "gsi1", "Projection": {"ProjectionType": "INCLUDE"},
                                  "KeySchema": [{"AttributeName": "x", "KeyType": "HASH"}]}]}, ("x",),
     "NonKeyAttributes"),
    ({"GlobalSecondaryIndexes": [{"IndexName": "gsi1", "Projection": {"ProjectionType": "ALL"},
                                  "KeySchema": [{"AttributeName": "x", "KeyType": "HASH"}]},
                                 {"IndexName": "gsi1", "Projection": {"ProjectionType": "ALL"},
                                  "KeySchema": [{"AttributeName": "y", "KeyType": "HASH"}]}]}, ("x", "y"),
     "Duplicate index name"),
])
def test_create_table_index_validation(ddb: Any, change: dict[str, Any], extra_attrs: tuple[str, ...],
                                       fragment: str) -> None:
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.create_table(
            TableName=unique_name(), BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", *extra_attrs)],
            **change)
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert fragment in exc.value.response["Error"]["Message"]
