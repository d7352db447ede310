"""Multi-attribute GSI keys end to end: boto3 against a server per backend, through the cache.

A GSI KeySchema of up to four HASH then up to four RANGE attributes: created with the table or online through
UpdateTable (backfilled), kept only for items that have every key attribute, queried with equality on every
HASH attribute and conditions on the RANGE attributes left to right, ordered and paged by the RANGE tuple,
and answered from the cache until a write to the table. The engine's rules are unit-tested against a model
in tests/test_composite_keys.py; this checks the wire, every backend and the cache.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import unique_name
from tests.moto_upstream import UPSTREAM_PARAM


@pytest.fixture(autouse=True)
def _engine_backends_only(request: pytest.FixtureRequest) -> None:
    if request.node.callspec.params.get("server") == UPSTREAM_PARAM:
        pytest.skip("moto (the test upstream) has no multi-attribute GSI keys; the upstream backend passes them on")


_DEFS = [("pk", "S"), ("tenant", "S"), ("region", "N"), ("day", "S"), ("seq", "N")]
_GSI_KEY = [{"AttributeName": "tenant", "KeyType": "HASH"}, {"AttributeName": "region", "KeyType": "HASH"},
            {"AttributeName": "day", "KeyType": "RANGE"}, {"AttributeName": "seq", "KeyType": "RANGE"}]


def _defs(*names: str) -> list[dict[str, str]]:
    return [{"AttributeName": n, "AttributeType": t} for n, t in _DEFS if not names or n in names]


def _item(pk: str, tenant: str | None, region: int | None, day: str | None, seq: int | None) -> dict[str, Any]:
    item: dict[str, Any] = {"pk": {"S": pk}, "payload": {"S": pk.upper()}}
    if tenant is not None:
        item["tenant"] = {"S": tenant}
    if region is not None:
        item["region"] = {"N": str(region)}
    if day is not None:
        item["day"] = {"S": day}
    if seq is not None:
        item["seq"] = {"N": str(seq)}
    return item


_ROWS = [
    ("a1", "acme", 1, "2025-11-02", 3), ("a2", "acme", 1, "2025-11-01", 7), ("a3", "acme", 1, "2025-11-02", -1),
    ("a4", "acme", 1, "2025-11-03", 0), ("a5", "acme", 2, "2025-11-02", 1), ("b1", "bolt", 1, "2025-11-02", 2),
    ("s1", "acme", 1, None, 4), ("s2", "acme", None, "2025-11-02", 5), ("a6", "acme", 1, "2025-11-02", 10),
]


@pytest.fixture
def composite(ddb: Any) -> Iterator[str]:
    name = unique_name("mg")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}], AttributeDefinitions=_defs(),
                     GlobalSecondaryIndexes=[{"IndexName": "by_tenant_day", "KeySchema": _GSI_KEY,
                                              "Projection": {"ProjectionType": "ALL"}}])
    for row in _ROWS:
        ddb.put_item(TableName=name, Item=_item(*row))
    yield name
    ddb.delete_table(TableName=name)


def _query(ddb: Any, table: str, expr: str, values: dict[str, Any], index: str = "by_tenant_day",
           **kw: Any) -> list[str]:
    out: list[str] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = ddb.query(TableName=table, IndexName=index, KeyConditionExpression=expr,
                         ExpressionAttributeValues=values, **kw, **kwargs)
        out.extend(i["pk"]["S"] for i in page["Items"])
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


_ACME_1 = {":t": {"S": "acme"}, ":r": {"N": "1"}}
_HASHES = "tenant = :t AND #r = :r"


def _q(ddb: Any, table: str, extra: str = "", values: dict[str, Any] | None = None, **kw: Any) -> list[str]:
    kw.setdefault("ExpressionAttributeNames", {"#r": "region"})
    return _query(ddb, table, _HASHES + extra, {**_ACME_1, **(values or {})}, **kw)


def test_describe_shows_the_composite_key(ddb: Any, composite: str) -> None:
    gsi = ddb.describe_table(TableName=composite)["Table"]["GlobalSecondaryIndexes"][0]
    assert gsi["KeySchema"] == _GSI_KEY and gsi["IndexStatus"] == "ACTIVE"


def test_query_orders_by_the_range_tuple_and_pages(ddb: Any, composite: str) -> None:
    everything = ["a2", "a3", "a1", "a6", "a4"]  # (day, seq) ascending; s1 (no day) and s2 (no region) left out
    assert _q(ddb, composite) == everything
    for limit in (1, 2, 3):
        assert _q(ddb, composite, Limit=limit) == everything
        assert _q(ddb, composite, Limit=limit, ScanIndexForward=False) == everything[::-1]
    assert _q(ddb, composite, " AND #d = :d", {":d": {"S": "2025-11-02"}},
              ExpressionAttributeNames={"#r": "region", "#d": "day"}) == ["a3", "a1", "a6"]
    assert _q(ddb, composite, " AND #d = :d AND seq > :s", {":d": {"S": "2025-11-02"}, ":s": {"N": "0"}},
              ExpressionAttributeNames={"#r": "region", "#d": "day"}, Limit=1) == ["a1", "a6"]
    assert _q(ddb, composite, " AND #d BETWEEN :x AND :y", {":x": {"S": "2025-11-02"}, ":y": {"S": "2025-11-03"}},
              ExpressionAttributeNames={"#r": "region", "#d": "day"}) == ["a3", "a1", "a6", "a4"]
    assert _q(ddb, composite, " AND begins_with(#d, :p)", {":p": {"S": "2025-11-0"}},
              ExpressionAttributeNames={"#r": "region", "#d": "day"}) == everything
    assert _query(ddb, composite, _HASHES, {":t": {"S": "acme"}, ":r": {"N": "2"}},
                  ExpressionAttributeNames={"#r": "region"}) == ["a5"]


@pytest.mark.parametrize("expr,values,message", [
    ("tenant = :t", {":t": {"S": "acme"}},
     "Query key condition not supported: HASH key attribute region requires an equality condition"),
    ("tenant = :t AND #r > :r", {":t": {"S": "acme"}, ":r": {"N": "1"}},
     "Query key condition not supported: HASH key attribute region requires an equality condition"),
    (_HASHES + " AND seq = :s", {**_ACME_1, ":s": {"N": "1"}},
     "Query key condition not supported: RANGE key attribute seq requires an equality condition on RANGE key "
     "attribute day"),
    (_HASHES + " AND #d > :d AND seq = :s", {**_ACME_1, ":d": {"S": "x"}, ":s": {"N": "1"}},
     "Query key condition not supported: RANGE key attribute seq requires an equality condition on RANGE key "
     "attribute day"),
])
def test_query_key_condition_rules(ddb: Any, composite: str, expr: str, values: dict[str, Any], message: str) -> None:
    names = {k: v for k, v in {"#r": "region", "#d": "day"}.items() if k in expr}
    with pytest.raises(ClientError) as exc:
        ddb.query(TableName=composite, IndexName="by_tenant_day", KeyConditionExpression=expr,
                  ExpressionAttributeValues=values, **({"ExpressionAttributeNames": names} if names else {}))
    assert exc.value.response["Error"] == {"Code": "ValidationException", "Message": message}


def _cache_status(ddb: Any, table: str) -> str:
    page = ddb.query(TableName=table, IndexName="by_tenant_day", KeyConditionExpression=_HASHES,
                     ExpressionAttributeValues=_ACME_1, ExpressionAttributeNames={"#r": "region"})
    return str(page["ResponseMetadata"]["HTTPHeaders"].get("x-accelerator-cache"))


def test_writes_move_entries_and_the_cache_follows(ddb: Any, composite: str) -> None:
    assert _q(ddb, composite) == ["a2", "a3", "a1", "a6", "a4"]
    assert _cache_status(ddb, composite) == "hit"  # the page is answered from the cache
    ddb.update_item(TableName=composite, Key={"pk": {"S": "s1"}}, UpdateExpression="SET #d = :d",
                    ExpressionAttributeNames={"#d": "day"}, ExpressionAttributeValues={":d": {"S": "2025-10-31"}})
    assert _cache_status(ddb, composite) == "miss"  # the write dropped the table's index pages
    assert _q(ddb, composite) == ["s1", "a2", "a3", "a1", "a6", "a4"]  # now it has every key attribute
    ddb.update_item(TableName=composite, Key={"pk": {"S": "a1"}}, UpdateExpression="SET #r = :r",
                    ExpressionAttributeNames={"#r": "region"}, ExpressionAttributeValues={":r": {"N": "2"}})
    ddb.delete_item(TableName=composite, Key={"pk": {"S": "a6"}})
    ddb.update_item(TableName=composite, Key={"pk": {"S": "a4"}}, UpdateExpression="REMOVE seq")
    assert _q(ddb, composite) == ["s1", "a2", "a3"]
    with pytest.raises(ClientError) as exc:  # a key attribute of the wrong type is refused, nothing written
        ddb.put_item(TableName=composite, Item={**_item("x1", "acme", 1, "2025-11-02", 1), "seq": {"S": "one"}})
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert "Item" not in ddb.get_item(TableName=composite, Key={"pk": {"S": "x1"}}, ConsistentRead=True)


def _wait_active(ddb: Any, table: str, index: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        gsis = ddb.describe_table(TableName=table)["Table"].get("GlobalSecondaryIndexes", [])
        if any(g["IndexName"] == index and g["IndexStatus"] == "ACTIVE" for g in gsis):
            return
        time.sleep(0.05)
    raise AssertionError(f"{index} never became ACTIVE")


def test_update_table_adds_a_composite_index_with_backfill(ddb: Any) -> None:
    name = unique_name("mg")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}], AttributeDefinitions=_defs("pk"))
    try:
        for row in _ROWS:
            ddb.put_item(TableName=name, Item=_item(*row))
        ddb.update_table(TableName=name, AttributeDefinitions=_defs("tenant", "region", "day", "seq"),
                         GlobalSecondaryIndexUpdates=[{"Create": {"IndexName": "late", "KeySchema": _GSI_KEY,
                                                                  "Projection": {"ProjectionType": "KEYS_ONLY"}}}])
        _wait_active(ddb, name, "late")
        assert _query(ddb, name, _HASHES, _ACME_1, index="late", ExpressionAttributeNames={"#r": "region"}) == \
            ["a2", "a3", "a1", "a6", "a4"]
    finally:
        ddb.delete_table(TableName=name)


@pytest.mark.parametrize("key_schema,message", [
    ([{"AttributeName": n, "KeyType": "HASH"} for n in ("tenant", "region", "day", "seq", "pk")],
     "The KeySchema exceeds the maximum allowed number of HASH key attributes"),
    ([{"AttributeName": "tenant", "KeyType": "HASH"}, {"AttributeName": "day", "KeyType": "RANGE"},
      {"AttributeName": "region", "KeyType": "HASH"}],
     "All HASH key attributes must precede RANGE key attributes in the KeySchema"),
    ([{"AttributeName": "tenant", "KeyType": "HASH"}, {"AttributeName": "region", "KeyType": "HASH"},
      {"AttributeName": "tenant", "KeyType": "RANGE"}],
     "Duplicate attribute name in KeySchema: tenant"),
    ([{"AttributeName": "tenant", "KeyType": "HASH"}, {"AttributeName": "tenant", "KeyType": "HASH"}],
     "Duplicate attribute name in KeySchema: tenant"),
])
def test_create_refuses_bad_composite_schemas(ddb: Any, key_schema: list[dict[str, str]], message: str) -> None:
    name = unique_name("mg")
    with pytest.raises(ClientError) as exc:
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}], AttributeDefinitions=_defs(),
                         GlobalSecondaryIndexes=[{"IndexName": "bad", "KeySchema": key_schema,
                                                  "Projection": {"ProjectionType": "ALL"}}])
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert message in exc.value.response["Error"]["Message"]
    assert name not in ddb.list_tables()["TableNames"]


def test_begins_with_on_a_number_range_attribute_is_an_operand_type_error(ddb: Any, composite: str) -> None:
    # The value's type does not matter: a number attribute has no prefixes (the check comes before the value's).
    for value in ({"S": "1"}, {"N": "1"}):
        with pytest.raises(ClientError) as exc:
            _q(ddb, composite, " AND #d = :d AND begins_with(seq, :p)", {":d": {"S": "2025-11-02"}, ":p": value},
               ExpressionAttributeNames={"#r": "region", "#d": "day"})
        assert exc.value.response["Error"] == {
            "Code": "ValidationException",
            "Message": "Invalid KeyConditionExpression: Incorrect operand type for operator or function; "
                       "operator or function: begins_with, operand type: N"}
