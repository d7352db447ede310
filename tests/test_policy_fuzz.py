"""The fuzzed requests of tests/test_fuzz_router.py, through a Router whose key has a policy that reads every
condition key (LeadingKeys, Attributes, Select, ReturnValues, ReturnConsumedCapacity) in Allow and Deny
statements: reading what a request touches never crashes, whatever the request holds, and the answer is a
DynamoDB-shaped reply below 500 (AccessDeniedException included) with nothing written by a refused write."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given

from accelerator.api import Router
from accelerator.core.context import PRINCIPAL
from accelerator.policy import Enforcer, PolicySet, parse_document
from tests.test_fuzz_router import OPERATIONS, Harness, _encode, _prepare, _settings, call, mutated

KEY = "AKIDFUZZ"
_ANY = ["*"]
POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*", "Condition": {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": _ANY, "dynamodb:Attributes": _ANY},
        "StringLikeIfExists": {"dynamodb:Select": _ANY, "dynamodb:ReturnValues": _ANY,
                               "dynamodb:ReturnConsumedCapacity": _ANY}}},
    {"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*", "Condition": {
        "ForAnyValue:StringEquals": {"dynamodb:LeadingKeys": "forbidden", "dynamodb:Attributes": "secret"}}},
]}


@pytest.fixture(scope="module")
def guarded() -> Iterator[Harness]:
    h = Harness()
    enforcer = Enforcer(PolicySet({KEY: parse_document(POLICY)}),
                        lambda table: h.store.call("DescribeTable", {"TableName": table}))
    h.router = Router(h.store, enforcer=enforcer)
    token = PRINCIPAL.set(KEY)  # each request's task copies this context, as a verified signature sets it
    yield h
    PRINCIPAL.reset(token)
    h.close()


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_policy_reads_any_request_safely(guarded: Harness, operation: str) -> None:
    @_settings(25)
    @given(mutated(OPERATIONS[operation]))
    def check(body: Any) -> None:
        _prepare(guarded, operation)
        call(guarded, operation, _encode(body))

    check()
