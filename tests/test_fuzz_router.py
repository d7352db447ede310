"""Fuzz every operation through the Router (cache over engine over memory storage).

Each example is one request; whatever it holds, the answer is a DynamoDB-shaped reply below 500 and a
failed write leaves the tables as they were. FUZZ_EXAMPLES=5000 runs a deeper search per operation.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import os
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelerator.api import TARGET_PREFIX, Router
from accelerator.cache import CachedStore
from accelerator.config import CacheConfig
from accelerator.core import errors
from accelerator.engine import TableEngine
from backends.memory import MemoryStorage

_DEEP = int(os.environ.get("FUZZ_EXAMPLES", "0"))


def _settings(examples: int) -> Any:
    return settings(max_examples=_DEEP or examples, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


KNOWN_ERRORS = {cls.type_name for cls in vars(errors).values()
                if isinstance(cls, type) and issubclass(cls, errors.DynamoError)}
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
TABLES = ("fz_h", "fz_hr", "fz_ix")
SCRATCH = ("fz_new", "fz_upd")


# -- the store under test -----------------------------------------------------------------------------------
def _key(name: str, kind: str) -> dict[str, str]:
    return {"AttributeName": name, "KeyType": kind}


def _attr(name: str, kind: str) -> dict[str, str]:
    return {"AttributeName": name, "AttributeType": kind}


_DEFINITIONS: dict[str, dict[str, Any]] = {
    "fz_h": {"KeySchema": [_key("pk", "HASH")], "AttributeDefinitions": [_attr("pk", "S")]},
    "fz_hr": {"KeySchema": [_key("pk", "HASH"), _key("sk", "RANGE")],
              "AttributeDefinitions": [_attr("pk", "S"), _attr("sk", "N")]},
    "fz_ix": {
        "KeySchema": [_key("pk", "HASH"), _key("sk", "RANGE")],
        "AttributeDefinitions": [_attr("pk", "S"), _attr("sk", "S"), _attr("lsk", "N"), _attr("gpk", "S"),
                                 _attr("gsk", "B")],
        "LocalSecondaryIndexes": [{"IndexName": "lsi", "KeySchema": [_key("pk", "HASH"), _key("lsk", "RANGE")],
                                   "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        "GlobalSecondaryIndexes": [{"IndexName": "gsi", "KeySchema": [_key("gpk", "HASH"), _key("gsk", "RANGE")],
                                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a"]}}],
    },
    "fz_upd": {"KeySchema": [_key("pk", "HASH")], "AttributeDefinitions": [_attr("pk", "S"), _attr("gpk", "S")],
               "GlobalSecondaryIndexes": [{"IndexName": "gsi", "KeySchema": [_key("gpk", "HASH")],
                                           "Projection": {"ProjectionType": "ALL"}}]},
}


class Harness:
    """A Router over CachedStore over TableEngine over MemoryStorage, on a loop of its own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.background: list[Any] = []
        self.loop.set_exception_handler(lambda loop, context: self.background.append(context))
        self.engine = TableEngine(MemoryStorage())
        self.store = CachedStore(self.engine, CacheConfig())
        self.router = Router(self.store)
        self.run(self.store.open())
        for name in TABLES + ("fz_upd",):
            self.ensure(name)
        for i in range(4):
            self.run(self.engine.call("PutItem", {"TableName": "fz_ix", "Item": {
                "pk": {"S": "a"}, "sk": {"S": str(i)}, "lsk": {"N": str(i)}, "gpk": {"S": "g"},
                "gsk": {"B": base64.b64encode(bytes([i])).decode()}, "a": {"L": [{"N": "1"}, {"M": {}}]}}}))
            self.run(self.engine.call("PutItem", {"TableName": "fz_hr", "Item": {
                "pk": {"S": "a"}, "sk": {"N": str(i)}, "a": {"SS": ["x", "y"]}, "n": {"N": "5"}}}))

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(coro, 10))

    def ensure(self, name: str) -> None:
        try:
            self.run(self.engine.call("DescribeTable", {"TableName": name}))
        except errors.ResourceNotFoundException:
            self.run(self.engine.call("CreateTable", {"TableName": name, "BillingMode": "PAY_PER_REQUEST",
                                                      **_DEFINITIONS[name]}))

    def snapshot(self) -> dict[str, Any]:
        out = {}
        for name in TABLES:
            items = self.run(self.engine.call("Scan", {"TableName": name}))["Items"]
            out[name] = sorted(orjson.dumps(i, option=orjson.OPT_SORT_KEYS) for i in items)
        return out

    def close(self) -> None:
        self.run(self.store.close())
        self.loop.close()


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    h = Harness()
    yield h
    h.close()


def call(h: Harness, operation: str, body: bytes) -> tuple[int, dict[str, Any] | None]:
    """Send one request; check the reply is DynamoDB-shaped, below 500, and that a failed write wrote nothing."""
    before = h.snapshot() if operation in WRITES else None
    status, ctype, _, raw = h.run(h.router.handle(TARGET_PREFIX + operation.encode(), body))
    assert ctype == b"application/x-amz-json-1.0"
    reply = orjson.loads(raw) if raw or status != 200 else {}  # TagResource/UntagResource answer an empty body
    assert isinstance(reply, dict)
    assert status < 500, (operation, body[:2000], reply)
    if status >= 400:
        # DynamoDB sends no message for a body that is not JSON; every other error has one
        assert isinstance(reply.get("__type"), str) and isinstance(reply.get("message", ""), str), reply
        assert reply["__type"].rsplit("#", 1)[-1] in KNOWN_ERRORS, reply
        if before is not None:
            assert h.snapshot() == before, (operation, body[:2000], reply)
    assert not h.background, h.background
    return status, reply


# -- strategies: JSON garbage and attribute values -----------------------------------------------------------
_texts = st.one_of(st.text(max_size=8), st.sampled_from(["", "a", "pk", "sk", " ", "\x00", "é", "\ud800", "x" * 300]))
_scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                     st.floats(allow_nan=False), _texts)
json_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(_texts, inner, max_size=4)), max_leaves=12)

_numbers = st.one_of(
    st.sampled_from(["0", "1", "-1", "1.5", "1e400", "1E-400", "-0", "NaN", "Infinity", "-inf", "", " 1", "1 ",
                     "0x10", "1e", ".", "+.5", "1" * 39, "1" * 38, "9.9e125", "1e-130", "1e-131", "00001",
                     "1_000", "١", "1e99999999999999999999", "1e-99999999999999999999"]),
    st.integers().map(str), st.decimals(allow_nan=True).map(str))
_b64 = st.one_of(st.binary(max_size=6).map(lambda b: base64.b64encode(b).decode()),
                 st.sampled_from(["!!", "", "a", "ab==", "====", "YQ", "YQ=", "YQ==\n", "Y Q=="]))
_plain_names = st.sampled_from(["pk", "sk", "lsk", "gpk", "gsk", "a", "b", "n", "x", "", "#n", ":v", "a.b",
                                "a[0]", "x" * 300])


def _attribute_values(inner: Any) -> Any:
    return st.one_of(
        _texts.map(lambda s: {"S": s}), _numbers.map(lambda n: {"N": n}), _b64.map(lambda b: {"B": b}),
        st.booleans().map(lambda b: {"BOOL": b}), st.just({"NULL": True}),
        st.lists(_texts, max_size=3).map(lambda v: {"SS": v}), st.lists(_numbers, max_size=3).map(lambda v: {"NS": v}),
        st.lists(_b64, max_size=3).map(lambda v: {"BS": v}),
        st.lists(inner, max_size=3).map(lambda v: {"L": v}),
        st.dictionaries(_plain_names, inner, max_size=3).map(lambda v: {"M": v}),
    )


_weird_values = st.one_of(
    st.sampled_from([{"N": 1}, {"N": 1.5}, {"S": 1}, {"S": None}, {"B": 5}, {"SS": [1]}, {"NS": [1]}, {"BS": ["!!"]},
                     {"SS": []}, {"SS": ["a", "a"]}, {"NS": ["1", "1.0"]}, {"NULL": False}, {"NULL": "yes"},
                     {"BOOL": "true"}, {"S": "a", "N": "1"}, {}, {"X": "1"}, {"M": []}, {"L": {}}, {"M": None},
                     {"L": None}, {"SS": None}, {"SS": "a"}, "S", 1, None, [], [{"S": "a"}], {"s": "a"},
                     {"N": "1", "": None}, {"M": {"a": "b"}}, {"L": [1]}]),
    json_values,
)
_scalar_values = st.one_of(
    _texts.map(lambda s: {"S": s}), _numbers.map(lambda n: {"N": n}), _b64.map(lambda b: {"B": b}),
    st.booleans().map(lambda b: {"BOOL": b}), st.just({"NULL": True}))
attribute_values = st.recursive(st.one_of(_scalar_values, _weird_values),
                                _attribute_values, max_leaves=8)


def _deep(depth: int, kind: str) -> dict[str, Any]:
    value: dict[str, Any] = {"S": "leaf"}
    for _ in range(depth):
        value = {"M": {"a": value}} if kind == "M" else {"L": [value]}
    return value


attribute_values = st.one_of(
    attribute_values,
    st.builds(_deep, st.sampled_from([31, 32, 33, 100]), st.sampled_from(["M", "L"])),
)
good_key_values = st.one_of(st.sampled_from(["a", "b", "c"]).map(lambda s: {"S": s}),
                            st.sampled_from(["0", "1", "2", "-1.5"]).map(lambda n: {"N": n}),
                            st.sampled_from(["AA==", "AQ==", ""]).map(lambda b: {"B": b}))
key_values = st.one_of(good_key_values, good_key_values, attribute_values)


def keys(table: str) -> Any:
    names = {"fz_h": ["pk"], "fz_hr": ["pk", "sk"], "fz_ix": ["pk", "sk"]}.get(table, ["pk"])
    exact = st.fixed_dictionaries({n: key_values for n in names})
    return st.one_of(exact, exact, st.dictionaries(st.sampled_from(["pk", "sk", "lsk", "gpk", "a", ""]),
                                                   key_values, max_size=3), json_values)


def items(table: str) -> Any:
    return st.builds(lambda k, extra: {**extra, **k} if isinstance(k, dict) else k, keys(table),
                     st.dictionaries(_plain_names, attribute_values, max_size=4))


table_names = st.one_of(st.sampled_from(TABLES + ("nope", "fz_new")), st.sampled_from(["", "a", "x" * 300, "bad name!"]),
                        _texts)

# -- strategies: expressions --------------------------------------------------------------------------------
_PATH_TOKENS = ["pk", "sk", "a", "b", "n", "lsk", "gpk", "#n", "#m", "#missing", "#", "a.b", "a[0]", "a[1].b",
                "#n.#m", "#n[0]", "a[99999999999999999999]", "a[-1]", "a[]", "SET", "size", "x" * 300]
_VALUE_TOKENS = [":v", ":w", ":x", ":missing", ":", ":v.a"]
_OTHER_TOKENS = ["=", "<>", "<", "<=", ">", ">=", "AND", "OR", "NOT", "BETWEEN", "IN", "(", ")", ",", ".", "[", "]",
                 "+", "-", "attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains",
                 "size", "SET", "REMOVE", "ADD", "DELETE", "if_not_exists", "list_append", "0", "1", "\x00", "é",
                 "%", "\"", "'", "#0", "::"]
_token = st.sampled_from(_PATH_TOKENS + _VALUE_TOKENS + _OTHER_TOKENS)
token_soup = st.lists(_token, max_size=12).map(" ".join)

paths = st.sampled_from(_PATH_TOKENS)
operands = st.one_of(paths, st.sampled_from(_VALUE_TOKENS), paths.map(lambda p: f"size({p})"))


def _conditions(inner: Any) -> Any:
    return st.one_of(
        st.tuples(inner, st.sampled_from(["AND", "OR"]), inner).map(" ".join),
        inner.map(lambda c: f"NOT {c}"), inner.map(lambda c: f"({c})"),
    )


_atoms = st.one_of(
    st.tuples(operands, st.sampled_from(["=", "<>", "<", "<=", ">", ">="]), operands).map(" ".join),
    st.tuples(operands, operands, operands).map(lambda t: f"{t[0]} BETWEEN {t[1]} AND {t[2]}"),
    st.tuples(operands, st.lists(operands, min_size=0, max_size=4)).map(lambda t: f"{t[0]} IN ({', '.join(t[1])})"),
    st.tuples(st.sampled_from(["attribute_exists", "attribute_not_exists", "attribute_type", "begins_with",
                               "contains", "size", "nope"]), st.lists(operands, max_size=3))
    .map(lambda t: f"{t[0]}({', '.join(t[1])})"),
)
conditions = st.recursive(_atoms, _conditions, max_leaves=6)
_set_values = st.one_of(
    operands,
    st.tuples(operands, st.sampled_from(["+", "-"]), operands).map(" ".join),
    st.tuples(st.sampled_from(["if_not_exists", "list_append"]), operands, operands).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
)
_clauses = st.one_of(
    st.lists(st.tuples(paths, _set_values).map(lambda t: f"{t[0]} = {t[1]}"), max_size=3).map(lambda a: "SET " + ", ".join(a)),
    st.lists(paths, max_size=3).map(lambda a: "REMOVE " + ", ".join(a)),
    st.lists(st.tuples(paths, operands).map(" ".join), max_size=3).map(lambda a: "ADD " + ", ".join(a)),
    st.lists(st.tuples(paths, operands).map(" ".join), max_size=3).map(lambda a: "DELETE " + ", ".join(a)),
)
updates = st.lists(_clauses, min_size=1, max_size=3).map(" ".join)
projections = st.lists(paths, max_size=4).map(", ".join)
key_conditions = st.one_of(
    st.tuples(st.sampled_from(["pk", "#n", "gpk", "a"]), st.sampled_from(_VALUE_TOKENS)).map(lambda t: f"{t[0]} = {t[1]}"),
    st.tuples(st.sampled_from(["pk", "#n", "gpk"]), st.sampled_from(["sk", "lsk", "gsk", "#m", "a"]), _atoms)
    .map(lambda t: f"{t[0]} = :v AND {t[2]}"),
    st.tuples(st.sampled_from(["sk", "lsk", "gsk", "#m"])).map(lambda t: f"pk = :v AND begins_with({t[0]}, :w)"),
    st.tuples(st.sampled_from(["sk", "lsk", "gsk", "#m"])).map(lambda t: f"pk = :v AND {t[0]} BETWEEN :w AND :x"),
    conditions,
)


def expr(kind: Any) -> Any:
    return st.one_of(kind, kind, token_soup, _texts)


names_maps = st.one_of(
    st.dictionaries(st.sampled_from(["#n", "#m", "#x", "#", "n", "#0"]), st.one_of(_plain_names, _texts), max_size=3),
    json_values)
values_maps = st.one_of(st.dictionaries(st.sampled_from([":v", ":w", ":x", ":", "v"]), key_values, max_size=3),
                        json_values)


def optional(members: dict[str, Any]) -> Any:
    """A dict with any subset of the given members."""
    return st.fixed_dictionaries({}, optional=members)


# -- structure-aware request bodies per operation ------------------------------------------------------------
_ENUMS = {
    "ReturnConsumedCapacity": st.sampled_from(["INDEXES", "TOTAL", "NONE", "bad"]),
    "ReturnItemCollectionMetrics": st.sampled_from(["SIZE", "NONE", "bad"]),
    "ReturnValues": st.sampled_from(["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW", "bad"]),
    "ReturnValuesOnConditionCheckFailure": st.sampled_from(["ALL_OLD", "NONE"]),
    "ConditionalOperator": st.sampled_from(["AND", "OR"]),
    "Select": st.sampled_from(["ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES", "SPECIFIC_ATTRIBUTES", "COUNT"]),
}
_COMPARISONS = ["EQ", "NE", "LE", "LT", "GE", "GT", "NOT_NULL", "NULL", "CONTAINS", "NOT_CONTAINS", "BEGINS_WITH",
                "IN", "BETWEEN", "bad"]
legacy_conditions = st.dictionaries(
    _plain_names,
    st.one_of(optional({"ComparisonOperator": st.sampled_from(_COMPARISONS),
                        "AttributeValueList": st.lists(key_values, max_size=3)}), json_values), max_size=3)
expected = st.dictionaries(_plain_names, st.one_of(
    optional({"Value": key_values, "Exists": st.booleans(), "ComparisonOperator": st.sampled_from(_COMPARISONS),
              "AttributeValueList": st.lists(key_values, max_size=3)}), json_values), max_size=3)
attribute_updates = st.dictionaries(_plain_names, st.one_of(
    optional({"Value": attribute_values, "Action": st.sampled_from(["PUT", "ADD", "DELETE", "bad"])}), json_values),
    max_size=3)
attributes_to_get = st.lists(_plain_names, max_size=3)
_limits = st.one_of(st.integers(min_value=-2, max_value=5), st.sampled_from([2**31, 2**63, 10**30]))


def _table(table: Any) -> Any:
    return table if table is not None else st.sampled_from(TABLES)


def _expr_members() -> dict[str, Any]:
    return {"ExpressionAttributeNames": names_maps, "ExpressionAttributeValues": values_maps}


def get_item(table: str) -> Any:
    return st.fixed_dictionaries({"TableName": st.just(table), "Key": keys(table)}, optional={
        "ProjectionExpression": expr(projections), "AttributesToGet": attributes_to_get, "ConsistentRead": st.booleans(),
        "ReturnConsumedCapacity": _ENUMS["ReturnConsumedCapacity"], **_expr_members()})


def _write_members() -> dict[str, Any]:
    return {"ConditionExpression": expr(conditions), "Expected": expected,
            "ConditionalOperator": _ENUMS["ConditionalOperator"], "ReturnValues": _ENUMS["ReturnValues"],
            "ReturnConsumedCapacity": _ENUMS["ReturnConsumedCapacity"],
            "ReturnItemCollectionMetrics": _ENUMS["ReturnItemCollectionMetrics"],
            "ReturnValuesOnConditionCheckFailure": _ENUMS["ReturnValuesOnConditionCheckFailure"], **_expr_members()}


def put_item(table: str) -> Any:
    return st.fixed_dictionaries({"TableName": st.just(table), "Item": items(table)}, optional=_write_members())


def delete_item(table: str) -> Any:
    return st.fixed_dictionaries({"TableName": st.just(table), "Key": keys(table)}, optional=_write_members())


def update_item(table: str) -> Any:
    return st.fixed_dictionaries({"TableName": st.just(table), "Key": keys(table)}, optional={
        **_write_members(), "UpdateExpression": expr(updates), "AttributeUpdates": attribute_updates})


def _start_keys(table: str) -> Any:
    return st.one_of(keys(table), keys("fz_ix").map(lambda k: {**k, "gpk": {"S": "g"}, "gsk": {"B": "AA=="}}
                                                    if isinstance(k, dict) else k),
                     st.dictionaries(_plain_names, key_values, max_size=4))


def _read_members(table: str) -> dict[str, Any]:
    return {"IndexName": st.sampled_from(["lsi", "gsi", "nope", "", "x" * 300]), "Select": _ENUMS["Select"],
            "AttributesToGet": attributes_to_get, "Limit": _limits, "ConsistentRead": st.booleans(),
            "ConditionalOperator": _ENUMS["ConditionalOperator"], "ExclusiveStartKey": _start_keys(table),
            "ReturnConsumedCapacity": _ENUMS["ReturnConsumedCapacity"], "ProjectionExpression": expr(projections),
            "FilterExpression": expr(conditions), **_expr_members()}


def query(table: str) -> Any:
    return st.fixed_dictionaries({"TableName": st.just(table)}, optional={
        **_read_members(table), "KeyConditionExpression": expr(key_conditions), "KeyConditions": legacy_conditions,
        "QueryFilter": legacy_conditions, "ScanIndexForward": st.booleans()})


def scan(table: str) -> Any:
    return st.fixed_dictionaries({"TableName": st.just(table)}, optional={
        **_read_members(table), "ScanFilter": legacy_conditions,
        "Segment": st.integers(min_value=-1, max_value=5), "TotalSegments": st.integers(min_value=-1, max_value=5)})


def _by_table(build: Any) -> Any:
    return st.sampled_from(TABLES).flatmap(build)


def _batch_get_entry(table: str) -> Any:
    return st.fixed_dictionaries({"Keys": st.lists(keys(table), max_size=4)}, optional={
        "ProjectionExpression": expr(projections), "AttributesToGet": attributes_to_get,
        "ConsistentRead": st.booleans(), "ExpressionAttributeNames": names_maps})


def batch_get() -> Any:
    entries = st.lists(st.sampled_from(TABLES + ("nope",)).flatmap(lambda t: st.tuples(st.just(t), _batch_get_entry(t))),
                       max_size=3).map(dict)
    return st.fixed_dictionaries({"RequestItems": entries}, optional={
        "ReturnConsumedCapacity": _ENUMS["ReturnConsumedCapacity"]})


def _batch_write_request(table: str) -> Any:
    return st.one_of(st.fixed_dictionaries({"PutRequest": st.fixed_dictionaries({"Item": items(table)})}),
                     st.fixed_dictionaries({"DeleteRequest": st.fixed_dictionaries({"Key": keys(table)})}),
                     st.fixed_dictionaries({}, optional={"PutRequest": json_values, "DeleteRequest": json_values}))


def batch_write() -> Any:
    entries = st.lists(st.sampled_from(TABLES + ("nope",)).flatmap(
        lambda t: st.tuples(st.just(t), st.lists(_batch_write_request(t), max_size=4))), max_size=3).map(dict)
    return st.fixed_dictionaries({"RequestItems": entries}, optional={
        "ReturnConsumedCapacity": _ENUMS["ReturnConsumedCapacity"],
        "ReturnItemCollectionMetrics": _ENUMS["ReturnItemCollectionMetrics"]})


def _transact_write_action(table: str) -> Any:
    common = {"ConditionExpression": expr(conditions), **_expr_members(),
              "ReturnValuesOnConditionCheckFailure": _ENUMS["ReturnValuesOnConditionCheckFailure"]}
    head = {"TableName": st.just(table)}
    return st.one_of(
        st.fixed_dictionaries({"Put": st.fixed_dictionaries({**head, "Item": items(table)}, optional=common)}),
        st.fixed_dictionaries({"Update": st.fixed_dictionaries({**head, "Key": keys(table)}, optional={
            **common, "UpdateExpression": expr(updates)})}),
        st.fixed_dictionaries({"Delete": st.fixed_dictionaries({**head, "Key": keys(table)}, optional=common)}),
        st.fixed_dictionaries({"ConditionCheck": st.fixed_dictionaries({**head, "Key": keys(table)}, optional=common)}),
        st.fixed_dictionaries({}, optional={"Put": json_values, "Delete": json_values}),
    )


def transact_write() -> Any:
    return st.fixed_dictionaries({"TransactItems": st.lists(_by_table(_transact_write_action), max_size=4)}, optional={
        "ClientRequestToken": st.one_of(st.sampled_from(["tok-1", "tok-2"]), _texts),
        "ReturnConsumedCapacity": _ENUMS["ReturnConsumedCapacity"],
        "ReturnItemCollectionMetrics": _ENUMS["ReturnItemCollectionMetrics"]})


def transact_get() -> Any:
    action = _by_table(lambda t: st.fixed_dictionaries({"Get": st.fixed_dictionaries(
        {"TableName": st.just(t), "Key": keys(t)},
        optional={"ProjectionExpression": expr(projections), "ExpressionAttributeNames": names_maps})}))
    return st.fixed_dictionaries({"TransactItems": st.lists(action, max_size=4)}, optional={
        "ReturnConsumedCapacity": _ENUMS["ReturnConsumedCapacity"]})


_key_names = st.sampled_from(["pk", "sk", "gpk", "gsk", "lsk", "a", ""])
_key_schema = st.lists(st.fixed_dictionaries({"AttributeName": _key_names,
                                              "KeyType": st.sampled_from(["HASH", "RANGE"])}), min_size=1, max_size=2)
_attr_defs = st.lists(st.fixed_dictionaries({"AttributeName": _key_names,
                                             "AttributeType": st.sampled_from(["S", "N", "B"])}), max_size=4)
_throughput = st.one_of(st.fixed_dictionaries({"ReadCapacityUnits": _limits, "WriteCapacityUnits": _limits}),
                        json_values)
_projection = st.fixed_dictionaries({}, optional={
    "ProjectionType": st.sampled_from(["ALL", "KEYS_ONLY", "INCLUDE", "bad"]),
    "NonKeyAttributes": st.one_of(st.lists(_key_names, max_size=3), json_values)})
_index = st.fixed_dictionaries({"IndexName": st.sampled_from(["gsi", "gsi2", "lsi", "", "x" * 300]),
                                "KeySchema": st.one_of(_key_schema, json_values)},
                               optional={"Projection": st.one_of(_projection, json_values),
                                         "ProvisionedThroughput": _throughput})


def create_table() -> Any:
    return st.fixed_dictionaries({
        "TableName": st.sampled_from(["fz_new", "fz_new2"]), "KeySchema": _key_schema,
        "AttributeDefinitions": _attr_defs}, optional={
        "BillingMode": st.sampled_from(["PROVISIONED", "PAY_PER_REQUEST"]), "ProvisionedThroughput": _throughput,
        "LocalSecondaryIndexes": st.lists(st.one_of(_index, json_values), max_size=2),
        "GlobalSecondaryIndexes": st.lists(st.one_of(_index, json_values), max_size=2),
        "StreamSpecification": json_values, "SSESpecification": json_values,
        "Tags": st.lists(st.fixed_dictionaries({"Key": _texts, "Value": _texts}), max_size=3),
        "TableClass": st.sampled_from(["STANDARD", "STANDARD_INFREQUENT_ACCESS", "bad"]),
        "DeletionProtectionEnabled": st.booleans()})


def update_table() -> Any:
    gsi_update = st.one_of(
        st.fixed_dictionaries({"Create": st.one_of(_index, json_values)}),
        st.fixed_dictionaries({"Delete": st.one_of(st.fixed_dictionaries({"IndexName": _key_names}), json_values)}),
        st.fixed_dictionaries({"Update": st.one_of(st.fixed_dictionaries(
            {"IndexName": st.sampled_from(["gsi", "nope"]), "ProvisionedThroughput": _throughput}), json_values)}),
        json_values)
    return st.fixed_dictionaries({"TableName": st.sampled_from(["fz_upd", "fz_new", "nope"])}, optional={
        "AttributeDefinitions": _attr_defs, "BillingMode": st.sampled_from(["PROVISIONED", "PAY_PER_REQUEST"]),
        "ProvisionedThroughput": _throughput, "GlobalSecondaryIndexUpdates": st.lists(gsi_update, max_size=2),
        "StreamSpecification": json_values, "SSESpecification": json_values,
        "TableClass": st.sampled_from(["STANDARD", "bad"]), "DeletionProtectionEnabled": st.just(False)})


_arns = st.one_of(st.sampled_from([f"arn:aws:dynamodb:us-east-1:000000000000:table/{t}" for t in TABLES]
                                  + ["arn:aws:dynamodb:us-east-1:0:table/", "arn:", "arn:x:table/nope/index/x",
                                     "fz_h", "arn:aws:dynamodb:us-east-1:0:table/fz_h/extra"]), _texts)
_tags = st.lists(st.fixed_dictionaries({"Key": st.one_of(st.sampled_from(["k", "aws:x", "k2"]), _texts),
                                        "Value": _texts}), max_size=4)

OPERATIONS: dict[str, Any] = {
    "GetItem": _by_table(get_item),
    "PutItem": _by_table(put_item),
    "UpdateItem": _by_table(update_item),
    "DeleteItem": _by_table(delete_item),
    "Query": _by_table(query),
    "Scan": _by_table(scan),
    "BatchGetItem": batch_get(),
    "BatchWriteItem": batch_write(),
    "TransactGetItems": transact_get(),
    "TransactWriteItems": transact_write(),
    "CreateTable": create_table(),
    "DescribeTable": st.fixed_dictionaries({}, optional={"TableName": table_names}),
    "UpdateTable": update_table(),
    "DeleteTable": st.fixed_dictionaries({"TableName": st.sampled_from(["fz_new", "fz_new2", "nope", "x"])}),
    "ListTables": optional({"ExclusiveStartTableName": table_names, "Limit": _limits}),
    "UpdateTimeToLive": st.fixed_dictionaries({"TableName": st.sampled_from(SCRATCH + ("nope",))}, optional={
        "TimeToLiveSpecification": optional({"Enabled": st.booleans(), "AttributeName": _plain_names})}),
    "DescribeTimeToLive": st.fixed_dictionaries({"TableName": table_names}),
    "TagResource": optional({"ResourceArn": _arns, "Tags": _tags}),
    "UntagResource": optional({"ResourceArn": _arns, "TagKeys": st.lists(_texts, max_size=3)}),
    "ListTagsOfResource": optional({"ResourceArn": _arns, "NextToken": _texts}),
    "DescribeLimits": optional({"x": json_values}),
    "DescribeEndpoints": optional({"x": json_values}),
}


# -- mutation: replace or drop one member anywhere in a valid-looking body -----------------------------------
def _slots(value: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            out.append((value, k))
            _slots(v, out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.append((value, i))
            _slots(v, out)
    return out


_garbage = st.one_of(json_values, attribute_values, st.sampled_from([
    None, True, 0, -1, 1.5, 2**64, "", "x" * 70000, [], {}, [None], {"": None}, {"S": "a"}]))


@st.composite
def mutated(draw: Any, body: Any) -> Any:
    body = copy.deepcopy(draw(body))  # strategies may share constant dicts
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        slots = _slots(body, [])
        if not slots:
            break
        container, key = slots[draw(st.integers(min_value=0, max_value=len(slots) - 1))]
        if isinstance(container, dict) and draw(st.booleans()):
            del container[key]
        else:
            container[key] = copy.deepcopy(draw(_garbage))
    return body


def _encode(body: Any) -> bytes:
    """JSON with escapes, so lone surrogates reach the server as they would on the wire."""
    return json.dumps(body).encode()


def _prepare(h: Harness, operation: str) -> None:
    """Tables an earlier example deleted (raw bodies may name any table) come back before the next one."""
    for name in TABLES + ("fz_upd",):
        h.ensure(name)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_structured_requests_get_dynamodb_answers(harness: Harness, operation: str) -> None:
    @_settings(60)
    @given(mutated(OPERATIONS[operation]))
    def check(body: Any) -> None:
        _prepare(harness, operation)
        call(harness, operation, _encode(body))

    check()


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_valid_looking_requests_get_dynamodb_answers(harness: Harness, operation: str) -> None:
    @_settings(30)
    @given(OPERATIONS[operation])
    def check(body: Any) -> None:
        _prepare(harness, operation)
        call(harness, operation, _encode(body))

    check()


_raw_bodies = st.one_of(
    st.dictionaries(st.one_of(st.sampled_from(["TableName", "Key", "Item", "RequestItems", "TransactItems",
                                               "KeySchema", "AttributeDefinitions", "Limit", "ExclusiveStartKey",
                                               "ResourceArn", "Tags"]), _texts), json_values, max_size=5)
    .map(_encode),
    json_values.map(_encode),
    st.binary(max_size=40),
    st.sampled_from([b"", b"{", b"}", b"null", b"{}", b"{\"TableName\": \"fz_h\"", b"\xff\xfe", b"{\"a\":1,\"a\":2}",
                     b"[" * 10000 + b"]" * 10000, b"{\"Key\":" * 2000 + b"{}" + b"}" * 2000, b"1e999999",
                     b"{\"TableName\": \"fz_h\", \"Key\": {\"pk\": {\"S\": \"\\ud800\"}}}"]),
    # nesting deeper than Python's recursion limit, in each place a value or a list of them is walked
    st.tuples(st.sampled_from([b'{"TableName":"fz_h","Item":{"pk":{"S":"d"},"a":%s}}',
                               b'{"TableName":"fz_h","Key":{"pk":%s}}',
                               b'{"TableName":"fz_h","Key":{"pk":{"S":"d"}},"ExpressionAttributeValues":{":v":%s}}',
                               b'{"RequestItems":{"fz_h":[{"PutRequest":{"Item":{"pk":{"S":"d"},"a":%s}}}]}}',
                               b'{"TableName":"fz_h","ExclusiveStartKey":{"pk":%s}}']),
              st.sampled_from([b'{"M":{"a":', b'{"L":[']), st.sampled_from([500, 1000, 1020]))
    .map(lambda t: t[0] % (t[1] * t[2] + b'{"S":"x"}' + (b"}}" if t[1].startswith(b'{"M"') else b"]}") * t[2])),
)


@_settings(300)
@given(st.sampled_from(sorted(OPERATIONS)), _raw_bodies)
def test_raw_json_bodies_get_dynamodb_answers(harness: Harness, operation: str, body: bytes) -> None:
    _prepare(harness, operation)
    call(harness, operation, body)


@_settings(50)
@given(st.binary(max_size=60), st.binary(max_size=20))
def test_unknown_targets_are_unknown_operation(harness: Harness, target: bytes, body: bytes) -> None:
    status, _, _, raw = harness.run(harness.router.handle(target, body))
    if target in harness.router.routes:  # a known operation by chance: call() covers those
        return
    reply = orjson.loads(raw)
    assert status == 400 and reply["__type"].endswith("#UnknownOperationException"), reply
