"""Multi-attribute GSI keys: the tuple byte encoding sorts as DynamoDB sorts a multi-attribute sort key, a
key condition is exactly one byte range, and Query through the engine answers as a reference model does.

The reference comparator never looks at bytes of our encoding: N compares as decimal numbers, S by its
UTF-8 bytes, B by its bytes, element by element (the first difference decides; a shorter equal prefix
sorts first only where tuples have different lengths, which keys of one index never do).
"""

from __future__ import annotations

import asyncio
import base64
import functools
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelerator.core.composite import CompositeKey, encode_tuple, escape, tuple_range
from accelerator.core.errors import ValidationException
from accelerator.core.keys import encode_key_value
from accelerator.core.values import normalize_number
from accelerator.engine import TableEngine
from accelerator.engine.indexes import index_key
from backends.memory import MemoryStorage

_numbers = st.one_of(
    st.decimals(min_value=Decimal("-1E+30"), max_value=Decimal("1E+30"), allow_nan=False, allow_infinity=False,
                places=6).map(lambda d: normalize_number(format(d, "f"))),
    st.sampled_from(["1E+125", "-1E+125", "1E-130", "-1E-130", "0", "-0.5", "0.5", "10", "-10"]).map(normalize_number))
# Small alphabets make equal prefixes (and values that are prefixes of others) common; zero bytes test escaping.
_strings = st.text(alphabet=st.sampled_from(["a", "b", "\x00", "\x01", "é", "\uffff", "𝄞"]), min_size=1, max_size=4)
_binary = st.binary(min_size=1, max_size=4).map(lambda b: b) | st.sampled_from([b"\x00", b"\x00\x00", b"\xff", b"\x00\xff"])
_VALUES = {"N": _numbers, "S": _strings, "B": _binary}


def _ref_key(kind: str, value: Any) -> Any:
    """The reference order of one element: numbers numerically, strings by UTF-8 bytes, binary by bytes."""
    if kind == "N":
        return Decimal(value)
    return value.encode() if kind == "S" else value


def _ref_cmp(kinds: tuple[str, ...], a: tuple[Any, ...], b: tuple[Any, ...]) -> int:
    for kind, x, y in zip(kinds, a, b, strict=True):
        kx, ky = _ref_key(kind, x), _ref_key(kind, y)
        if kx != ky:
            return -1 if kx < ky else 1
    return 0


def _raw(kind: str, value: Any) -> Any:
    return base64.b64encode(value).decode() if kind == "B" else value


def _encode(kinds: tuple[str, ...], values: tuple[Any, ...]) -> bytes:
    return encode_tuple([encode_key_value(k, _raw(k, v)) for k, v in zip(kinds, values, strict=True)])


_kinds = st.lists(st.sampled_from("NSB"), min_size=1, max_size=4).map(tuple)


@st.composite
def _tuples(draw: st.DrawFn, count: int = 2) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    kinds = draw(_kinds)
    rows = [tuple(draw(_VALUES[k]) for k in kinds) for _ in range(count)]
    return kinds, rows


@settings(max_examples=400, deadline=None)
@given(_tuples())
def test_tuple_bytes_order_as_the_reference(case: tuple[tuple[str, ...], list[tuple[Any, ...]]]) -> None:
    kinds, (a, b) = case
    ea, eb = _encode(kinds, a), _encode(kinds, b)
    expected = _ref_cmp(kinds, a, b)
    assert (ea > eb) - (ea < eb) == expected
    # A tuple followed by any tail (the table key in an index entry) keeps the order of its tuple.
    if expected:
        assert ((ea + b"\xff" * 3) > eb) - ((ea + b"\xff" * 3) < eb) == expected
        assert (ea > eb + b"\xff" * 3) - (ea < eb + b"\xff" * 3) == expected


@settings(max_examples=150, deadline=None)
@given(_tuples(count=12), st.data())
def test_sorting_many_tuples_matches_the_reference(case: tuple[tuple[str, ...], list[tuple[Any, ...]]],
                                                   data: st.DataObject) -> None:
    kinds, rows = case
    by_bytes = sorted(rows, key=lambda r: _encode(kinds, r))
    by_ref = sorted(rows, key=functools.cmp_to_key(lambda x, y: _ref_cmp(kinds, x, y)))
    assert [_encode(kinds, r) for r in by_bytes] == [_encode(kinds, r) for r in by_ref]


_OPS = ["=", "<", "<=", ">", ">=", "BETWEEN", "begins_with", None]


def _matches(kind: str, op: str | None, value: Any, args: list[Any]) -> bool:
    v = _ref_key(kind, value)
    a = [_ref_key(kind, x) for x in args]
    if op is None:
        return True
    if op == "=":
        return bool(v == a[0])
    if op == "<":
        return bool(v < a[0])
    if op == "<=":
        return bool(v <= a[0])
    if op == ">":
        return bool(v > a[0])
    if op == ">=":
        return bool(v >= a[0])
    if op == "BETWEEN":
        return bool(a[0] <= v <= a[1])
    return bool(v[:len(a[0])] == a[0])  # begins_with (S and B only)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_tuples(count=10), st.data())
def test_key_range_selects_exactly_the_matching_tuples(case: tuple[tuple[str, ...], list[tuple[Any, ...]]],
                                                       data: st.DataObject) -> None:
    """Equality on the first k elements, then one condition on the next: the byte range holds exactly the
    tuples (with any table-key tail) the reference predicate accepts."""
    kinds, rows = case
    k = data.draw(st.integers(0, len(kinds) - 1))
    pick = data.draw(st.sampled_from(rows))
    prefix_values = pick[:k]
    kind = kinds[k]
    ops = [o for o in _OPS if o != "begins_with" or kind != "N"]
    op = data.draw(st.sampled_from(ops))
    args = [data.draw(st.sampled_from([r[k] for r in rows]) | _VALUES[kind]) for _ in range(2 if op == "BETWEEN" else 1)]
    if op == "BETWEEN" and _ref_key(kind, args[0]) > _ref_key(kind, args[1]):
        args.reverse()
    prefix = _encode(kinds[:k], prefix_values)
    encoded = [encode_key_value(kind, _raw(kind, a)) for a in args]
    lower: bytes | None = None
    upper: bytes | None = None
    lower_inc = upper_inc = True
    if op in ("=", ">=", ">", "BETWEEN", "begins_with"):
        lower, lower_inc = encoded[0], op != ">"
    if op in ("=", "<=", "<"):
        upper, upper_inc = encoded[0], op != "<"
    elif op == "BETWEEN":
        upper = encoded[1]
    elif op == "begins_with":
        from accelerator.core.keys import prefix_successor
        upper, upper_inc = prefix_successor(encoded[0]), False
    lo, hi = tuple_range(prefix, lower, lower_inc, upper, upper_inc)
    for row in rows:
        entry = _encode(kinds, row) + escape(b"table-pk") + b"\x00\xff"
        inside = (lo is None or entry > lo.key or (entry == lo.key and lo.inclusive)) and \
                 (hi is None or entry < hi.key or (entry == hi.key and hi.inclusive))
        expected = all(_ref_key(kinds[i], row[i]) == _ref_key(kinds[i], prefix_values[i]) for i in range(k)) \
            and _matches(kind, op, row[k], args)
        assert inside == expected, (row, k, op, args)


def _spec(*elements: tuple[str, str]) -> dict[str, Any]:
    return {"KeySchema": [{"AttributeName": n, "KeyType": t} for n, t in elements]}


_TYPES = {n: "S" for n in "abcdefghij"}


@pytest.mark.parametrize(("elements", "message"), [
    ([("a", "RANGE"), ("b", "HASH")], "Invalid KeySchema for index: gsi: The first KeySchemaElement is not a HASH"),
    ([(n, "HASH") for n in "abcde"], "The KeySchema exceeds the maximum allowed number of HASH key attributes"),
    ([("a", "HASH"), *[(n, "RANGE") for n in "bcdef"]],
     "The KeySchema exceeds the maximum allowed number of RANGE key attributes"),
    ([("a", "HASH"), ("b", "RANGE"), ("c", "HASH")],
     "All HASH key attributes must precede RANGE key attributes in the KeySchema"),
    ([("a", "HASH"), ("b", "HASH"), ("a", "RANGE")], "Duplicate attribute name in KeySchema: a"),
    ([("a", "HASH"), ("a", "HASH")], "Duplicate attribute name in KeySchema: a"),
    ([("a", "HASH"), ("a", "RANGE")], "Both the Hash Key and the Range Key element in the KeySchema have the same name"),
    ([("a", "HASH"), ("z", "HASH")], "Some index key attributes are not defined in AttributeDefinitions. Keys: [a, z]"),
])
def test_index_key_schema_rules(elements: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(ValidationException) as exc:
        index_key(_spec(*elements), _TYPES, "gsi")
    assert message in exc.value.message


def test_index_key_schema_limits_and_stored_form() -> None:
    key = index_key(_spec(*[(n, "HASH") for n in "abcd"], *[(n, "RANGE") for n in "efgh"]), _TYPES, "gsi")
    assert key.hash_names == tuple("abcd") and key.range_names == tuple("efgh") and key.multi
    assert CompositeKey.from_spec(key.to_spec()) == key
    single = index_key(_spec(("a", "HASH"), ("b", "RANGE")), _TYPES, "gsi")
    assert single.to_spec() == {"key": ["a", "S", "b", "S"]}  # what single-attribute indexes always stored
    assert CompositeKey.from_spec(single.to_spec()) == single
    with pytest.raises(ValidationException) as exc:  # a local index keeps one HASH and one RANGE attribute
        index_key(_spec(("a", "HASH"), ("b", "RANGE"), ("c", "RANGE")), _TYPES, "lsi", is_global=False)
    assert "maximum allowed number of RANGE key attributes" in exc.value.message


# Query through the engine (memory storage) against a reference model: items with random key tuples,
# random well-formed key conditions, every page of a random Limit, both directions.

_H = (("h1", "S"), ("h2", "N"))
_R = (("r1", "N"), ("r2", "S"), ("r3", "B"))


def _wire(kind: str, value: Any) -> dict[str, str]:
    return {kind: _raw(kind, value)}


async def _engine_case(rows: list[tuple[Any, ...]], k: int, op: str | None, args: list[Any], limit: int,
                       forward: bool) -> None:
    engine = TableEngine(MemoryStorage())
    await engine.open()
    try:
        await engine.call("CreateTable", {
            "TableName": "tbl", "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in (("pk", "S"), *_H, *_R)],
            "GlobalSecondaryIndexes": [{"IndexName": "gsi", "Projection": {"ProjectionType": "ALL"}, "KeySchema": [
                *[{"AttributeName": n, "KeyType": "HASH"} for n, _ in _H],
                *[{"AttributeName": n, "KeyType": "RANGE"} for n, _ in _R]]}]})
        for i, row in enumerate(rows):
            item = {"pk": {"S": f"p{i}"}, "h1": {"S": "x"}, "h2": {"N": "1"}}
            item.update({n: _wire(t, v) for (n, t), v in zip(_R, row, strict=True)})
            await engine.call("PutItem", {"TableName": "tbl", "Item": item})
        await engine.call("PutItem", {"TableName": "tbl", "Item": {"pk": {"S": "other"}, "h1": {"S": "x"},
                                                               "h2": {"N": "2"}, "r1": {"N": "1"}, "r2": {"S": "a"},
                                                               "r3": {"B": "AA=="}}})
        values: dict[str, Any] = {":h1": {"S": "x"}, ":h2": {"N": "1"}}
        parts = ["h1 = :h1", "h2 = :h2"]
        pick = rows[0]
        for i in range(k):
            values[f":e{i}"] = _wire(_R[i][1], pick[i])
            parts.append(f"{_R[i][0]} = :e{i}")
        if op is not None:
            name, kind = _R[k]
            for j, a in enumerate(args):
                values[f":a{j}"] = _wire(kind, a)
            parts.append({"BETWEEN": f"{name} BETWEEN :a0 AND :a1", "begins_with": f"begins_with({name}, :a0)"}
                         .get(op, f"{name} {op} :a0"))
        request: dict[str, Any] = {"TableName": "tbl", "IndexName": "gsi", "KeyConditionExpression": " AND ".join(parts),
                                   "ExpressionAttributeValues": values, "Limit": limit, "ScanIndexForward": forward}
        got: list[str] = []
        for _ in range(len(rows) + 2):
            page = await engine.call("Query", dict(request))
            got.extend(item["pk"]["S"] for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            assert set(page["LastEvaluatedKey"]) == {"pk", "h1", "h2", "r1", "r2", "r3"}
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        kinds = tuple(t for _, t in _R)
        chosen = [(row, f"p{i}") for i, row in enumerate(rows)
                  if all(_ref_key(kinds[i2], row[i2]) == _ref_key(kinds[i2], pick[i2]) for i2 in range(k))
                  and (op is None or _matches(kinds[k], op, row[k], args))]

        def order(a: tuple[tuple[Any, ...], str], b: tuple[tuple[Any, ...], str]) -> int:
            c = _ref_cmp(kinds, a[0], b[0])
            return c or (a[1] > b[1]) - (a[1] < b[1])  # ties: by the table key's bytes

        expected = [p for _, p in sorted(chosen, key=functools.cmp_to_key(order), reverse=not forward)]
        assert got == expected
    finally:
        await engine.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_numbers, _strings, _binary), min_size=1, max_size=14), st.data())
def test_engine_query_on_a_multi_attribute_index_matches_the_model(rows: list[tuple[Any, ...]],
                                                                   data: st.DataObject) -> None:
    k = data.draw(st.integers(0, 2))
    kind = _R[k][1]
    op = data.draw(st.sampled_from([o for o in _OPS if o != "begins_with" or kind != "N"]))
    args = [data.draw(st.sampled_from([r[k] for r in rows]) | _VALUES[kind]) for _ in range(2 if op == "BETWEEN" else 1)]
    if op == "BETWEEN" and _ref_key(kind, args[0]) > _ref_key(kind, args[1]):
        args.reverse()
    limit = data.draw(st.integers(1, 5))
    forward = data.draw(st.booleans())
    asyncio.run(_engine_case(rows, k, op, args, limit, forward))
