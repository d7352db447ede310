"""DynamoDB conformance of Query's ExclusiveStartKey: where a start key may lie, on tables and indexes.

DynamoDB checks a start key against the key condition: its sort key must satisfy the sort-key condition
("does not match the range key predicate"), it must lie in the queried partition ("outside query boundaries",
or, under a sort-key condition, "can return at most one row"), and a Query of a hash-only table (which names
a whole primary key) cannot be restarted at all, so it never hands out a LastEvaluatedKey.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import unique_name

_PREDICATE = "The provided starting key does not match the range key predicate"
_ONE_ROW = "The query can return at most one row and cannot be restarted"
_OUTSIDE = "The provided starting key is outside query boundaries based on provided conditions"


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return err["Code"], err["Message"]


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _s(value: str) -> dict[str, str]:
    return {"S": value}


@pytest.fixture
def paged(ddb: Any) -> Iterator[str]:
    """pk S / sk N with an LSI on ``l`` (N) and GSIs on (g S, gs N) and on g alone; partitions a and b, sk 1..6."""
    name = unique_name("pg")
    defs = [("pk", "S"), ("sk", "N"), ("l", "N"), ("g", "S"), ("gs", "N")]
    ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t in defs],
        LocalSecondaryIndexes=[{"IndexName": "by_l", "Projection": {"ProjectionType": "ALL"},
                                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                              {"AttributeName": "l", "KeyType": "RANGE"}]}],
        GlobalSecondaryIndexes=[
            {"IndexName": "by_g", "Projection": {"ProjectionType": "ALL"},
             "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}, {"AttributeName": "gs", "KeyType": "RANGE"}]},
            {"IndexName": "g_only", "Projection": {"ProjectionType": "KEYS_ONLY"},
             "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}]}])
    for pk in ("a", "b"):
        for sk in range(1, 7):
            ddb.put_item(TableName=name, Item={"pk": _s(pk), "sk": _n(sk), "l": _n(10 * sk), "g": _s("G" + pk),
                                               "gs": _n(100 * sk)})
    yield name
    ddb.delete_table(TableName=name)


def _query(ddb: Any, table: str, expr: str, values: dict[str, Any], **kw: Any) -> list[int]:
    page = ddb.query(TableName=table, KeyConditionExpression=expr, ExpressionAttributeValues=values, **kw)
    return [int(i["sk"]["N"]) for i in page["Items"]]


@pytest.mark.parametrize("expr,values,start,message", [
    ("pk = :p AND sk > :v", {":v": _n(2)}, 2, _PREDICATE),  # the exclusive bound itself
    ("pk = :p AND sk > :v", {":v": _n(2)}, 1, _PREDICATE),
    ("pk = :p AND sk >= :v", {":v": _n(3)}, 2, _PREDICATE),
    ("pk = :p AND sk < :v", {":v": _n(3)}, 3, _PREDICATE),
    ("pk = :p AND sk <= :v", {":v": _n(3)}, 4, _PREDICATE),
    ("pk = :p AND sk = :v", {":v": _n(3)}, 4, _PREDICATE),
    ("pk = :p AND sk BETWEEN :v AND :w", {":v": _n(2), ":w": _n(4)}, 5, _PREDICATE),
    ("pk = :p AND sk BETWEEN :v AND :w", {":v": _n(2), ":w": _n(4)}, 1, _PREDICATE),
])
def test_start_key_outside_sort_key_condition(ddb: Any, paged: str, expr: str, values: dict[str, Any], start: int,
                                              message: str) -> None:
    with pytest.raises(ClientError) as exc:
        ddb.query(TableName=paged, KeyConditionExpression=expr, ExpressionAttributeValues={":p": _s("a"), **values},
                  ExclusiveStartKey={"pk": _s("a"), "sk": _n(start)})
    assert _error(exc) == ("ValidationException", message)


def test_start_key_outside_legacy_key_conditions(ddb: Any, paged: str) -> None:
    with pytest.raises(ClientError) as exc:
        ddb.query(TableName=paged, KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [_s("a")]},
                                                  "sk": {"ComparisonOperator": "GT", "AttributeValueList": [_n(2)]}},
                  ExclusiveStartKey={"pk": _s("a"), "sk": _n(2)})
    assert _error(exc) == ("ValidationException", _PREDICATE)


def test_start_key_in_another_partition(ddb: Any, paged: str) -> None:
    other = {"pk": _s("b"), "sk": _n(3)}
    with pytest.raises(ClientError) as exc:
        ddb.query(TableName=paged, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": _s("a")},
                  ExclusiveStartKey=other)
    assert _error(exc) == ("ValidationException", _OUTSIDE)
    with pytest.raises(ClientError) as exc:  # the sort key satisfies the condition, the partition does not
        ddb.query(TableName=paged, KeyConditionExpression="pk = :p AND sk > :v",
                  ExpressionAttributeValues={":p": _s("a"), ":v": _n(1)}, ExclusiveStartKey=other)
    assert _error(exc) == ("ValidationException", _ONE_ROW)


@pytest.mark.parametrize("forward,start,expected", [(True, 3, [4, 5]), (False, 4, [3, 2]), (True, 5, []),
                                                    (False, 2, [])])
def test_start_key_inside_the_condition_resumes(ddb: Any, paged: str, forward: bool, start: int,
                                                expected: list[int]) -> None:
    # a start key need not be an item's key, nor one a previous page returned
    assert _query(ddb, paged, "pk = :p AND sk BETWEEN :v AND :w", {":p": _s("a"), ":v": _n(2), ":w": _n(5)},
                  ScanIndexForward=forward, ExclusiveStartKey={"pk": _s("a"), "sk": _n(start)}) == expected


def test_local_index_start_key(ddb: Any, paged: str) -> None:
    values = {":p": _s("a"), ":v": _n(30)}
    base = {"pk": _s("a"), "sk": _n(3)}
    with pytest.raises(ClientError) as exc:
        ddb.query(TableName=paged, IndexName="by_l", KeyConditionExpression="pk = :p AND l > :v",
                  ExpressionAttributeValues=values, ExclusiveStartKey={**base, "l": _n(30)})
    assert _error(exc) == ("ValidationException", _PREDICATE)
    got = ddb.query(TableName=paged, IndexName="by_l", KeyConditionExpression="pk = :p AND l > :v",
                    ExpressionAttributeValues=values, ExclusiveStartKey={"pk": _s("a"), "sk": _n(4), "l": _n(40)})
    assert [i["l"]["N"] for i in got["Items"]] == ["50", "60"]


def test_global_index_start_key(ddb: Any, paged: str) -> None:
    values = {":g": _s("Ga"), ":v": _n(200), ":w": _n(400)}
    expr = "g = :g AND gs BETWEEN :v AND :w"
    for gs, pk in ((500, "a"), (100, "a")):
        with pytest.raises(ClientError) as exc:
            ddb.query(TableName=paged, IndexName="by_g", KeyConditionExpression=expr, ExpressionAttributeValues=values,
                      ExclusiveStartKey={"pk": _s(pk), "sk": _n(gs // 100), "g": _s("Ga"), "gs": _n(gs)})
        assert _error(exc) == ("ValidationException", _PREDICATE)
    with pytest.raises(ClientError) as exc:
        ddb.query(TableName=paged, IndexName="by_g", KeyConditionExpression=expr, ExpressionAttributeValues=values,
                  ExclusiveStartKey={"pk": _s("b"), "sk": _n(3), "g": _s("Gb"), "gs": _n(300)})
    assert _error(exc) == ("ValidationException", _ONE_ROW)
    got = ddb.query(TableName=paged, IndexName="by_g", KeyConditionExpression=expr, ExpressionAttributeValues=values,
                    ExclusiveStartKey={"pk": _s("a"), "sk": _n(2), "g": _s("Ga"), "gs": _n(200)})
    assert [i["gs"]["N"] for i in got["Items"]] == ["300", "400"]


def test_hash_only_global_index_pages(ddb: Any, paged: str) -> None:
    seen: list[str] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = ddb.query(TableName=paged, IndexName="g_only", KeyConditionExpression="g = :g",
                         ExpressionAttributeValues={":g": _s("Gb")}, Limit=4, **kwargs)
        seen.extend(i["sk"]["N"] for i in page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    assert sorted(seen, key=int) == [str(i) for i in range(1, 7)]
    with pytest.raises(ClientError) as exc:
        ddb.query(TableName=paged, IndexName="g_only", KeyConditionExpression="g = :g",
                  ExpressionAttributeValues={":g": _s("Gb")},
                  ExclusiveStartKey={"pk": _s("a"), "sk": _n(1), "g": _s("Ga")})
    assert _error(exc) == ("ValidationException", _OUTSIDE)


def test_hash_only_table_query_cannot_be_restarted(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={"pk": _s("x"), "v": _s("1")})
    query = {"TableName": table, "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": _s("x")}}
    page = ddb.query(**query, Limit=1)
    assert page["Count"] == 1 and "LastEvaluatedKey" not in page  # nothing can follow the only match
    for start in ("x", "y"):
        with pytest.raises(ClientError) as exc:
            ddb.query(**query, ExclusiveStartKey={"pk": _s(start)})
        assert _error(exc) == ("ValidationException", _ONE_ROW)
    pages = list(ddb.get_paginator("query").paginate(**query, PaginationConfig={"PageSize": 1}))
    assert [p["Count"] for p in pages] == [1]


def test_start_key_of_the_wrong_shape(ddb: Any, paged: str, table: str) -> None:
    for tbl, start in ((paged, {"pk": _s("a")}), (paged, {"pk": _s("a"), "sk": _n(1), "x": _n(1)}),
                       (table, {"pk": _s("a"), "sk": _n(1)})):
        with pytest.raises(ClientError) as exc:
            ddb.query(TableName=tbl, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": _s("a")},
                      ExclusiveStartKey=start)
        assert _error(exc) == ("ValidationException", "The provided starting key is invalid: The provided key "
                                                      "element does not match the schema")
