"""Random and mutated Streams requests through the router: every answer is DynamoDB-shaped and below 500, and
well-formed iterators that were not issued here are refused (the MAC), never read."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelerator.api import Router
from accelerator.api.streams import TARGET_PREFIX as STREAMS_PREFIX
from accelerator.cache import CachedStore
from accelerator.config import CacheConfig
from accelerator.core import errors
from accelerator.engine import TableEngine
from backends.memory import MemoryStorage

KNOWN_ERRORS = {cls.type_name for cls in vars(errors).values()
                if isinstance(cls, type) and issubclass(cls, errors.DynamoError)}
TABLE = "fz_stream"
_texts = st.one_of(st.text(max_size=12), st.sampled_from(["", "LATEST", "TRIM_HORIZON", "AT_SEQUENCE_NUMBER",
                                                           "0" * 21, "9" * 40, "x" * 50, "\ud800"]))
_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), _texts),
                       lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_texts, inner, max_size=3)),
                       max_leaves=8)


class Harness:
    """Router over CachedStore over TableEngine over MemoryStorage, with one streamed table and its iterator."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.engine = TableEngine(MemoryStorage(), ttl_sweep_interval=0, log_upkeep_interval=0)
        self.store = CachedStore(self.engine, CacheConfig())
        self.router = Router(self.store)
        self.run(self.store.open())
        self.run(self.engine.call("CreateTable", {
            "TableName": TABLE, "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}}))
        self.run(self.engine.call("PutItem", {"TableName": TABLE, "Item": {"pk": {"S": "a"}}}))
        self.arn = self.run(self.engine.call("DescribeTable", {"TableName": TABLE}))["Table"]["LatestStreamArn"]
        shards = self.run(self.engine.call("DescribeStream", {"StreamArn": self.arn}))["StreamDescription"]["Shards"]
        self.shard = shards[0]["ShardId"]
        self.iterator = self.run(self.engine.call("GetShardIterator", {
            "StreamArn": self.arn, "ShardId": self.shard, "ShardIteratorType": "TRIM_HORIZON"}))["ShardIterator"]

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(coro, 10))

    def call(self, operation: str, body: bytes) -> tuple[int, dict[str, Any]]:
        status, ctype, _, raw = self.run(self.router.handle(STREAMS_PREFIX + operation.encode(), body))
        assert ctype == b"application/x-amz-json-1.0"
        reply = orjson.loads(raw)
        assert status < 500, (operation, body[:500], reply)
        if status >= 400:
            assert reply["__type"].rsplit("#", 1)[-1] in KNOWN_ERRORS, reply
            assert isinstance(reply.get("message", ""), str)
        return status, reply


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    h = Harness()
    yield h
    h.run(h.store.close())
    h.loop.close()


def _settings(examples: int) -> Any:
    return settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def _members(h: Harness) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "StreamArn": st.one_of(st.just(h.arn), _texts, st.just(h.arn + "x"), st.just(h.arn.replace("stream", "s"))),
        "ShardId": st.one_of(st.just(h.shard), _texts, st.just(h.shard[:-1] + "0")),
        "ShardIteratorType": _texts, "SequenceNumber": _texts, "TableName": st.one_of(st.just(TABLE), _texts),
        "Limit": st.one_of(st.integers(-5, 2000), _texts), "ExclusiveStartStreamArn": _texts,
        "ExclusiveStartShardId": _texts, "ShardIterator": st.one_of(st.just(h.iterator), _texts),
        "ShardFilter": _values,
    }


@pytest.mark.parametrize("operation", ["ListStreams", "DescribeStream", "GetShardIterator", "GetRecords"])
def test_mutated_streams_requests_get_dynamodb_answers(harness: Harness, operation: str) -> None:
    members = _members(harness)

    @_settings(150)
    @given(st.dictionaries(st.sampled_from(sorted(members)), _values, max_size=4),
           st.fixed_dictionaries({}, optional=members))
    def check(noise: dict[str, Any], body: dict[str, Any]) -> None:
        harness.call(operation, json.dumps({**noise, **body}).encode())  # escapes, as a wire body may

    check()


@_settings(200)
@given(st.binary(max_size=60), st.sampled_from(["ListStreams", "DescribeStream", "GetShardIterator", "GetRecords"]))
def test_raw_bodies_get_dynamodb_answers(harness: Harness, body: bytes, operation: str) -> None:
    harness.call(operation, body)


@_settings(200)
@given(st.binary(min_size=1, max_size=80), st.binary(min_size=16, max_size=16))
def test_forged_iterators_are_refused(harness: Harness, payload: bytes, mac: bytes) -> None:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    forged = f"{b64(payload)}.{b64(mac)}"
    status, reply = harness.call("GetRecords", orjson.dumps({"ShardIterator": forged}))
    assert status == 400 and reply["__type"].endswith("#ValidationException"), reply
    assert reply["message"] == "Invalid ShardIterator"
