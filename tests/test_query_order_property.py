"""Property: Query returns every item of a partition exactly once, in DynamoDB's sort order, in both
directions and across pages of any Limit; checked against a sorted reference model."""

from __future__ import annotations

import asyncio
import base64
import tempfile
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelerator.core.values import normalize_number
from accelerator.engine import TableEngine
from backends.memory import MemoryStorage
from backends.sqlite import SqliteStorage

_numbers = st.decimals(min_value=Decimal("-1E+25"), max_value=Decimal("1E+25"), allow_nan=False,
                       allow_infinity=False, places=8).map(lambda d: normalize_number(format(d, "f")))
_big = st.sampled_from(["1E+125", "-1E+125", "1E-130", "-1E-130", "9.9999999999999999999999999999999999999E+125"]).map(
    normalize_number)
_strings = st.text(min_size=1, max_size=8)
_binary = st.binary(min_size=1, max_size=6)

_CASES = {
    "N": (st.lists(_numbers | _big, min_size=1, max_size=30, unique=True), Decimal, lambda v: {"N": v}),
    "S": (st.lists(_strings, min_size=1, max_size=30, unique=True), lambda s: s.encode(), lambda v: {"S": v}),
    "B": (st.lists(_binary, min_size=1, max_size=30, unique=True), lambda b: b,
          lambda v: {"B": base64.b64encode(v).decode()}),
}


async def _check(engine: TableEngine, key_type: str, values: list[Any], limit: int, forward: bool) -> None:
    _, order, wire = _CASES[key_type]
    name = f"prop_{key_type}"
    await engine.call("CreateTable", {
        "TableName": name, "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": key_type}]})
    for v in values:
        await engine.call("PutItem", {"TableName": name, "Item": {"pk": {"S": "p"}, "sk": wire(v)}})
        await engine.call("PutItem", {"TableName": name, "Item": {"pk": {"S": "q"}, "sk": wire(v)}})
    expected = [wire(v) for v in sorted(values, key=order, reverse=not forward)]
    got: list[Any] = []
    request: dict[str, Any] = {"TableName": name, "KeyConditionExpression": "pk = :p", "Limit": limit,
                               "ExpressionAttributeValues": {":p": {"S": "p"}}, "ScanIndexForward": forward}
    for _ in range(len(values) + 2):
        page = await engine.call("Query", dict(request))
        assert len(page["Items"]) <= limit
        got.extend(item["sk"] for item in page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    assert got == expected
    await engine.call("DeleteTable", {"TableName": name})


def _run(storage: Any, key_type: str, values: list[Any], limit: int, forward: bool) -> None:
    async def main() -> None:
        engine = TableEngine(storage)
        await engine.open()
        try:
            await _check(engine, key_type, values, limit, forward)
        finally:
            await engine.close()

    asyncio.run(main())


_settings = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(st.sampled_from(["N", "S", "B"]).flatmap(lambda t: st.tuples(st.just(t), _CASES[t][0])),
       st.integers(min_value=1, max_value=7), st.booleans())
def test_query_order_memory(case: tuple[str, list[Any]], limit: int, forward: bool) -> None:
    _run(MemoryStorage(), case[0], case[1], limit, forward)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["N", "S", "B"]).flatmap(lambda t: st.tuples(st.just(t), _CASES[t][0])),
       st.integers(min_value=1, max_value=7), st.booleans())
def test_query_order_sqlite(case: tuple[str, list[Any]], limit: int, forward: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _run(SqliteStorage(path=f"{tmp}/db.sqlite"), case[0], case[1], limit, forward)
