"""DynamoDB conformance of ConsumedCapacity: absent items in batches, index upkeep on writes, index reads.

A BatchGetItem reports every table it read, found or not. With INDEXES a write reports each index it
touched (an entry added or removed: one write of its projected size; moved by a key change: two; untouched:
none) under GlobalSecondaryIndexes / LocalSecondaryIndexes, and the total includes them; a Query of an index
reports its reads under that index.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _item(user: str, ts: int, **attrs: str) -> dict[str, Any]:
    out: dict[str, Any] = {"user": {"S": user}, "ts": {"N": str(ts)}}
    for name, value in attrs.items():
        out[name] = {"N": value} if name == "score" else {"S": value}
    return out


def test_batch_get_of_absent_keys_reports_each_table(ddb: Any, make_table: Callable[..., str]) -> None:
    first, second = make_table(), make_table()
    ddb.put_item(TableName=second, Item={"pk": {"S": "here"}})
    got = ddb.batch_get_item(ReturnConsumedCapacity="TOTAL", RequestItems={
        first: {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "b"}}]},
        second: {"Keys": [{"pk": {"S": "c"}}], "ConsistentRead": True}})
    assert got["Responses"] == {first: [], second: []}
    assert sorted(got["ConsumedCapacity"], key=lambda c: c["TableName"] != first) == [
        {"TableName": first, "CapacityUnits": 1.0}, {"TableName": second, "CapacityUnits": 1.0}]


def test_writes_report_index_upkeep(ddb: Any, indexed: str) -> None:
    key = {"user": {"S": "u"}, "ts": {"N": "1"}}
    put = ddb.put_item(TableName=indexed, Item=_item("u", 1, status="open", score="5", note="n"),
                       ReturnConsumedCapacity="INDEXES")["ConsumedCapacity"]
    assert put == {"TableName": indexed, "CapacityUnits": 4.0, "Table": {"CapacityUnits": 1.0},
                   "GlobalSecondaryIndexes": {"by_status": {"CapacityUnits": 1.0}, "status_only": {"CapacityUnits": 1.0}},
                   "LocalSecondaryIndexes": {"by_score": {"CapacityUnits": 1.0}}}
    same = ddb.put_item(TableName=indexed, Item=_item("u", 1, status="open", score="5", note="n"),
                        ReturnConsumedCapacity="INDEXES")["ConsumedCapacity"]
    assert same == {"TableName": indexed, "CapacityUnits": 1.0, "Table": {"CapacityUnits": 1.0}}
    # status is both GSIs' key: their entries move (two writes each); the KEYS_ONLY LSI does not hold it
    moved = ddb.update_item(TableName=indexed, Key=key, UpdateExpression="SET #s = :s",
                            ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":s": {"S": "done"}},
                            ReturnConsumedCapacity="INDEXES")["ConsumedCapacity"]
    assert moved == {"TableName": indexed, "CapacityUnits": 5.0, "Table": {"CapacityUnits": 1.0},
                     "GlobalSecondaryIndexes": {"by_status": {"CapacityUnits": 2.0},
                                                "status_only": {"CapacityUnits": 2.0}}}
    # a projected non-key attribute changes: one write in each index that projects it
    noted = ddb.update_item(TableName=indexed, Key=key, UpdateExpression="SET note = :n",
                            ExpressionAttributeValues={":n": {"S": "m"}},
                            ReturnConsumedCapacity="TOTAL")["ConsumedCapacity"]
    assert noted == {"TableName": indexed, "CapacityUnits": 3.0}
    gone = ddb.delete_item(TableName=indexed, Key=key, ReturnConsumedCapacity="INDEXES")["ConsumedCapacity"]
    assert gone == {"TableName": indexed, "CapacityUnits": 4.0, "Table": {"CapacityUnits": 1.0},
                    "GlobalSecondaryIndexes": {"by_status": {"CapacityUnits": 1.0}, "status_only": {"CapacityUnits": 1.0}},
                    "LocalSecondaryIndexes": {"by_score": {"CapacityUnits": 1.0}}}
    # an item without any index key attribute has no entries to keep
    bare = ddb.put_item(TableName=indexed, Item=_item("u", 2), ReturnConsumedCapacity="INDEXES")["ConsumedCapacity"]
    assert bare == {"TableName": indexed, "CapacityUnits": 1.0, "Table": {"CapacityUnits": 1.0}}


def test_batch_write_reports_index_upkeep(ddb: Any, indexed: str) -> None:
    got = ddb.batch_write_item(ReturnConsumedCapacity="INDEXES", RequestItems={indexed: [
        {"PutRequest": {"Item": _item("b", 1, status="open")}},
        {"PutRequest": {"Item": _item("b", 2, score="3")}}]})["ConsumedCapacity"]
    assert got == [{"TableName": indexed, "CapacityUnits": 4.0, "Table": {"CapacityUnits": 2.0},
                    "GlobalSecondaryIndexes": {"status_only": {"CapacityUnits": 1.0}},
                    "LocalSecondaryIndexes": {"by_score": {"CapacityUnits": 1.0}}}]


def test_index_queries_report_under_the_index(ddb: Any, indexed: str) -> None:
    ddb.put_item(TableName=indexed, Item=_item("q", 1, status="open", score="5"))
    gsi = ddb.query(TableName=indexed, IndexName="by_status", KeyConditionExpression="#s = :s",
                    ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":s": {"S": "open"}},
                    ReturnConsumedCapacity="INDEXES")["ConsumedCapacity"]
    assert gsi == {"TableName": indexed, "CapacityUnits": 0.5, "Table": {"CapacityUnits": 0.0},
                   "GlobalSecondaryIndexes": {"by_status": {"CapacityUnits": 0.5}}}
    lsi = ddb.query(TableName=indexed, IndexName="by_score", KeyConditionExpression="#u = :u",
                    ExpressionAttributeNames={"#u": "user"}, ExpressionAttributeValues={":u": {"S": "q"}},
                    ConsistentRead=True, ReturnConsumedCapacity="INDEXES")["ConsumedCapacity"]
    assert lsi == {"TableName": indexed, "CapacityUnits": 1.0, "Table": {"CapacityUnits": 0.0},
                   "LocalSecondaryIndexes": {"by_score": {"CapacityUnits": 1.0}}}
    total = ddb.query(TableName=indexed, IndexName="by_status", KeyConditionExpression="#s = :s",
                      ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":s": {"S": "open"}},
                      ReturnConsumedCapacity="TOTAL")["ConsumedCapacity"]
    assert total == {"TableName": indexed, "CapacityUnits": 0.5}


def test_transactions_report_index_upkeep_twice(ddb: Any, indexed: str) -> None:
    key = {"user": {"S": "t"}, "ts": {"N": "1"}}
    put = ddb.transact_write_items(ReturnConsumedCapacity="INDEXES", TransactItems=[
        {"Put": {"TableName": indexed, "Item": _item("t", 1, status="open", score="5")}}])["ConsumedCapacity"]
    assert put == [{"TableName": indexed, "CapacityUnits": 8.0, "Table": {"CapacityUnits": 2.0},
                    "GlobalSecondaryIndexes": {"by_status": {"CapacityUnits": 2.0}, "status_only": {"CapacityUnits": 2.0}},
                    "LocalSecondaryIndexes": {"by_score": {"CapacityUnits": 2.0}}}]
    moved = ddb.transact_write_items(ReturnConsumedCapacity="INDEXES", TransactItems=[
        {"Update": {"TableName": indexed, "Key": key, "UpdateExpression": "SET #s = :s",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {":s": {"S": "done"}}}}])["ConsumedCapacity"]
    assert moved == [{"TableName": indexed, "CapacityUnits": 10.0, "Table": {"CapacityUnits": 2.0},
                      "GlobalSecondaryIndexes": {"by_status": {"CapacityUnits": 4.0},
                                                 "status_only": {"CapacityUnits": 4.0}}}]
