"""Expressions end to end: conditions, updates, projections, Query and Scan, legacy parameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


def _err(exc: pytest.ExceptionInfo[Any]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def test_conditional_put_and_delete(ddb: Any, table: str) -> None:
    item = {"pk": {"S": "c"}, "v": {"N": "1"}}
    ddb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException) as exc:
        ddb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)",
                     ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert exc.value.response["Item"] == item
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException) as exc:
        ddb.delete_item(TableName=table, Key={"pk": {"S": "c"}}, ConditionExpression="v > :x",
                        ExpressionAttributeValues={":x": {"N": "5"}})
    assert "Item" not in exc.value.response
    ddb.delete_item(TableName=table, Key={"pk": {"S": "c"}}, ConditionExpression="v < :x",
                    ExpressionAttributeValues={":x": {"N": "5"}})
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "c"}})


@pytest.mark.parametrize("expr, values, expected", [
    ("#n = :v", {":v": {"N": "10"}}, True),
    ("#n <> :v", {":v": {"N": "10"}}, False),
    ("#n BETWEEN :a AND :b", {":a": {"N": "9"}, ":b": {"N": "11"}}, True),
    ("#n IN (:a, :b)", {":a": {"N": "1"}, ":b": {"N": "10"}}, True),
    ("begins_with(s, :p)", {":p": {"S": "hel"}}, True),
    ("contains(tags, :t)", {":t": {"S": "red"}}, True),
    ("contains(s, :t)", {":t": {"S": "ell"}}, True),
    ("size(s) = :five", {":five": {"N": "5"}}, True),
    ("attribute_type(s, :t)", {":t": {"S": "S"}}, True),
    ("attribute_exists(m.deep[1])", None, True),
    ("attribute_not_exists(nope) AND NOT (#n < :z)", {":z": {"N": "0"}}, True),
    ("#n = :s", {":s": {"S": "10"}}, False),
    ("m.deep[0] = :one OR #n > :big", {":one": {"N": "1"}, ":big": {"N": "99"}}, True),
])
def test_condition_operators(ddb: Any, table: str, expr: str, values: dict[str, Any] | None, expected: bool) -> None:
    ddb.put_item(TableName=table, Item={"pk": {"S": "x"}, "n": {"N": "10"}, "s": {"S": "hello"},
                                        "tags": {"SS": ["red", "blue"]},
                                        "m": {"M": {"deep": {"L": [{"N": "1"}, {"N": "2"}]}}}})
    kwargs: dict[str, Any] = {"ConditionExpression": expr, "ExpressionAttributeNames": {"#n": "n"}} \
        if "#n" in expr else {"ConditionExpression": expr}
    if values:
        kwargs["ExpressionAttributeValues"] = values
    try:
        ddb.update_item(TableName=table, Key={"pk": {"S": "x"}}, UpdateExpression="SET touched = :t2",
                        **{**kwargs, "ExpressionAttributeValues": {**(values or {}), ":t2": {"BOOL": True}}})
        passed = True
    except ddb.exceptions.ConditionalCheckFailedException:
        passed = False
    assert passed is expected


def test_update_expression_and_return_values(ddb: Any, table: str) -> None:
    key = {"pk": {"S": "u"}}
    out = ddb.update_item(TableName=table, Key=key, ReturnValues="ALL_NEW",
                          UpdateExpression="SET a = :one, l = :l, m = :m ADD c :two, ss :ss",
                          ExpressionAttributeValues={":one": {"N": "1"}, ":two": {"N": "2"},
                                                     ":l": {"L": [{"S": "x"}]}, ":m": {"M": {"k": {"S": "v"}}},
                                                     ":ss": {"SS": ["a", "b"]}})
    assert out["Attributes"]["a"] == {"N": "1"} and out["Attributes"]["c"] == {"N": "2"}
    out = ddb.update_item(
        TableName=table, Key=key, ReturnValues="UPDATED_OLD",
        UpdateExpression="SET a = a + :one, l = list_append(l, :more), m.k2 = if_not_exists(m.k2, :d) "
                         "REMOVE m.k DELETE ss :a",
        ExpressionAttributeValues={":one": {"N": "1"}, ":more": {"L": [{"S": "y"}]}, ":d": {"S": "dflt"},
                                   ":a": {"SS": ["a"]}})
    assert out["Attributes"]["a"] == {"N": "1"}
    item = ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert item["a"] == {"N": "2"}
    assert item["l"] == {"L": [{"S": "x"}, {"S": "y"}]}
    assert item["m"] == {"M": {"k2": {"S": "dflt"}}}
    assert item["ss"] == {"SS": ["b"]}
    out = ddb.update_item(TableName=table, Key=key, ReturnValues="UPDATED_NEW", UpdateExpression="REMOVE l[0]")
    assert out["Attributes"] == {"l": {"L": [{"S": "y"}]}}
    out = ddb.update_item(TableName=table, Key=key, ReturnValues="ALL_OLD", UpdateExpression="SET a = :z",
                          ExpressionAttributeValues={":z": {"N": "0"}})
    assert out["Attributes"]["a"] == {"N": "2"}


@pytest.mark.parametrize("kwargs, fragment", [
    ({"UpdateExpression": "SET pk = :v", "ExpressionAttributeValues": {":v": {"S": "x"}}}, "part of the key"),
    ({"UpdateExpression": "SET a = :v SET b = :v", "ExpressionAttributeValues": {":v": {"S": "x"}}},
     "only be used once"),
    ({"UpdateExpression": "SET a = :v, a.b = :v", "ExpressionAttributeValues": {":v": {"S": "x"}}}, "overlap"),
    ({"UpdateExpression": "SET status = :v", "ExpressionAttributeValues": {":v": {"S": "x"}}}, "reserved keyword"),
    ({"UpdateExpression": "SET a = :v", "ExpressionAttributeValues": {":v": {"S": "x"}, ":w": {"S": "y"}}},
     "unused"),
    ({"UpdateExpression": "SET a = :v"}, "not defined"),
    ({"UpdateExpression": "SET #a = :v", "ExpressionAttributeValues": {":v": {"S": "x"}}}, "not defined"),
    ({"UpdateExpression": "SET a = b + :v", "ExpressionAttributeValues": {":v": {"N": "1"}}}, "does not exist"),
    ({"UpdateExpression": "SET a = :v +", "ExpressionAttributeValues": {":v": {"N": "1"}}}, "Syntax error"),
    ({"UpdateExpression": "ADD s :v", "ExpressionAttributeValues": {":v": {"S": "1"}}}, "ADD"),
    ({"UpdateExpression": "SET a = :v", "ExpressionAttributeValues": {":v": {"S": "x"}},
      "AttributeUpdates": {"b": {"Action": "DELETE"}}}, "non-expression"),
])
def test_update_errors(ddb: Any, table: str, kwargs: dict[str, Any], fragment: str) -> None:
    ddb.put_item(TableName=table, Item={"pk": {"S": "e"}, "s": {"S": "str"}})
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.update_item(TableName=table, Key={"pk": {"S": "e"}}, **kwargs)
    code, message = _err(exc)
    assert code == "ValidationException" and fragment in message, message
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "e"}}, ConsistentRead=True)["Item"] == {
        "pk": {"S": "e"}, "s": {"S": "str"}}


def test_projection(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={"pk": {"S": "p"}, "a": {"N": "1"}, "b": {"S": "x"},
                                        "m": {"M": {"x": {"N": "1"}, "y": {"L": [{"N": "1"}, {"N": "2"}, {"N": "3"}]}}}})
    got = ddb.get_item(TableName=table, Key={"pk": {"S": "p"}}, ProjectionExpression="a, m.y[2], #b",
                       ExpressionAttributeNames={"#b": "b"})["Item"]
    assert got == {"a": {"N": "1"}, "b": {"S": "x"}, "m": {"M": {"y": {"L": [{"N": "3"}]}}}}
    got = ddb.get_item(TableName=table, Key={"pk": {"S": "p"}}, AttributesToGet=["a", "zz"])["Item"]
    assert got == {"a": {"N": "1"}}


def _sks(page: dict[str, Any]) -> list[str]:
    return [i["sk"]["N"] for i in page["Items"]]


def test_query_ranges_and_order(ddb: Any, ordered: str) -> None:
    q = lambda expr, vals, **kw: ddb.query(TableName=ordered, KeyConditionExpression=expr,  # noqa: E731
                                           ExpressionAttributeValues={":p": {"S": "p"}, **vals}, **kw)
    all_ = ["-100", "-2.5", "-1", "0", "0.5", "1", "2", "10", "100", "100000000000000000000"]
    assert _sks(q("pk = :p", {})) == all_
    assert _sks(q("pk = :p", {}, ScanIndexForward=False)) == all_[::-1]
    assert _sks(q("pk = :p AND sk < :v", {":v": {"N": "0"}})) == all_[:3]
    assert _sks(q("pk = :p AND sk <= :v", {":v": {"N": "0"}})) == all_[:4]
    assert _sks(q("pk = :p AND sk > :v", {":v": {"N": "2"}})) == all_[7:]
    assert _sks(q("pk = :p AND sk >= :v", {":v": {"N": "2"}})) == all_[6:]
    assert _sks(q("pk = :p AND sk = :v", {":v": {"N": "0.50"}})) == ["0.5"]
    assert _sks(q("pk = :p AND sk BETWEEN :a AND :b", {":a": {"N": "-1"}, ":b": {"N": "1"}})) == all_[2:6]
    page = q("pk = :p", {}, Select="COUNT")
    assert page["Count"] == 10 and "Items" not in page


def test_query_pagination_filter_projection(ddb: Any, ordered: str) -> None:
    seen: list[str] = []
    scanned = 0
    kwargs: dict[str, Any] = {}
    while True:
        page = ddb.query(TableName=ordered, KeyConditionExpression="pk = :p", FilterExpression="odd = :t",
                         ProjectionExpression="sk", ExpressionAttributeValues={":p": {"S": "p"}, ":t": {"BOOL": True}},
                         Limit=3, **kwargs)
        assert page["ScannedCount"] <= 3
        scanned += page["ScannedCount"]
        seen.extend(_sks(page))
        assert all(set(i) == {"sk"} for i in page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    assert scanned == 10
    assert seen == ["-2.5", "0", "1", "10", "100000000000000000000"]


def test_query_begins_with_on_strings(ddb: Any, make_table: Callable[..., str]) -> None:
    name = make_table(range_key=("sk", "S"))
    for sk in ["a", "ab", "abc", "abd", "b", "é", "z"]:
        ddb.put_item(TableName=name, Item={"pk": {"S": "p"}, "sk": {"S": sk}})
    page = ddb.query(TableName=name, KeyConditionExpression="pk = :p AND begins_with(sk, :b)",
                     ExpressionAttributeValues={":p": {"S": "p"}, ":b": {"S": "ab"}})
    assert [i["sk"]["S"] for i in page["Items"]] == ["ab", "abc", "abd"]
    page = ddb.query(TableName=name, KeyConditionExpression="pk = :p",
                     ExpressionAttributeValues={":p": {"S": "p"}})
    assert [i["sk"]["S"] for i in page["Items"]] == ["a", "ab", "abc", "abd", "b", "z", "é"]


@pytest.mark.parametrize("kwargs, fragment", [
    ({"KeyConditionExpression": "sk = :v", "ExpressionAttributeValues": {":v": {"N": "1"}}}, "missed key schema"),
    ({"KeyConditionExpression": "pk = :v", "ExpressionAttributeValues": {":v": {"N": "1"}}}, "type"),
    ({"KeyConditionExpression": "pk = :p", "FilterExpression": "sk > :p",
      "ExpressionAttributeValues": {":p": {"S": "p"}}}, "primary key"),
    ({"KeyConditionExpression": "pk = :p AND odd = :p", "ExpressionAttributeValues": {":p": {"S": "p"}}}, ""),
    ({"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "p"}}, "Select": "SPECIFIC_ATTRIBUTES"},
     "SPECIFIC_ATTRIBUTES"),
    ({"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "p"}}, "IndexName": "nope"},
     "index"),
])
def test_query_errors(ddb: Any, ordered: str, kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.query(TableName=ordered, **kwargs)
    code, message = _err(exc)
    assert code == "ValidationException" and fragment in message, message


def test_scan_segments_filter_and_count(ddb: Any, table: str) -> None:
    ddb.batch_write_item(RequestItems={table: [
        {"PutRequest": {"Item": {"pk": {"S": f"k{i}"}, "n": {"N": str(i)}}}} for i in range(25)]})
    seen: list[str] = []
    for segment in range(4):
        kwargs: dict[str, Any] = {}
        while True:
            page = ddb.scan(TableName=table, Segment=segment, TotalSegments=4, Limit=4, **kwargs)
            seen.extend(i["pk"]["S"] for i in page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    assert sorted(seen) == sorted(f"k{i}" for i in range(25))
    page = ddb.scan(TableName=table, FilterExpression="n >= :ten", ExpressionAttributeValues={":ten": {"N": "10"}},
                    Select="COUNT")
    assert page["Count"] == 15 and page["ScannedCount"] == 25
    legacy = ddb.scan(TableName=table, ScanFilter={"n": {"ComparisonOperator": "LT",
                                                         "AttributeValueList": [{"N": "3"}]}})
    assert sorted(i["pk"]["S"] for i in legacy["Items"]) == ["k0", "k1", "k2"]
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.scan(TableName=table, Segment=4, TotalSegments=4)
    assert _err(exc)[0] == "ValidationException"


def test_legacy_parameters(ddb: Any, make_table: Callable[..., str]) -> None:
    name = make_table(range_key=("sk", "N"))
    ddb.put_item(TableName=name, Item={"pk": {"S": "p"}, "sk": {"N": "1"}, "v": {"S": "a"}},
                 Expected={"pk": {"Exists": False}})
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        ddb.put_item(TableName=name, Item={"pk": {"S": "p"}, "sk": {"N": "1"}},
                     Expected={"v": {"Value": {"S": "zzz"}}})
    ddb.update_item(TableName=name, Key={"pk": {"S": "p"}, "sk": {"N": "1"}},
                    AttributeUpdates={"n": {"Action": "ADD", "Value": {"N": "5"}}, "v": {"Action": "DELETE"}})
    page = ddb.query(TableName=name, KeyConditions={
        "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]},
        "sk": {"ComparisonOperator": "GE", "AttributeValueList": [{"N": "1"}]}},
        QueryFilter={"n": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "5"}]}},
        AttributesToGet=["n"])
    assert page["Items"] == [{"n": {"N": "5"}}]
