"""DynamoDB conformance of document paths: a list index DynamoDB cannot parse as a 32-bit integer.

An index past a list's end reads nothing, but one over 2**31 - 1 is a ValidationException naming the index,
in every expression that takes a path (projection, condition, filter, update), on every read and write path.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

_TOO_LARGE = "List index is not within the allowable range; index: [{}]"


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return err["Code"], err["Message"]


@pytest.fixture
def listed(ddb: Any, table: str) -> str:
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}, "l": {"L": [{"S": "x"}, {"S": "y"}]}})
    return table


@pytest.mark.parametrize("index", ["99999999999999", "2147483648", "00000000002147483648"])
def test_projection_list_index_too_large(ddb: Any, listed: str, index: str) -> None:
    key = {"pk": {"S": "a"}}
    projection = f"pk, l[{index}]"
    message = "Invalid ProjectionExpression: " + _TOO_LARGE.format(index)
    calls = [
        lambda: ddb.get_item(TableName=listed, Key=key, ProjectionExpression=projection),
        lambda: ddb.query(TableName=listed, KeyConditionExpression="pk = :p", ProjectionExpression=projection,
                          ExpressionAttributeValues={":p": {"S": "a"}}),
        lambda: ddb.scan(TableName=listed, ProjectionExpression=projection),
        lambda: ddb.batch_get_item(RequestItems={listed: {"Keys": [key], "ProjectionExpression": projection}}),
        lambda: ddb.transact_get_items(TransactItems=[{"Get": {"TableName": listed, "Key": key,
                                                               "ProjectionExpression": projection}}]),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert _error(exc) == ("ValidationException", message)


def test_list_index_too_large_in_other_expressions(ddb: Any, listed: str) -> None:
    key = {"pk": {"S": "a"}}
    big = "99999999999999"
    cases = [
        ("UpdateExpression", lambda: ddb.update_item(TableName=listed, Key=key, UpdateExpression=f"REMOVE l[{big}]")),
        ("UpdateExpression", lambda: ddb.update_item(TableName=listed, Key=key, UpdateExpression=f"SET l[{big}] = :v",
                                                     ExpressionAttributeValues={":v": {"S": "z"}})),
        ("ConditionExpression", lambda: ddb.delete_item(TableName=listed, Key=key,
                                                        ConditionExpression=f"attribute_exists(l[{big}])")),
        ("FilterExpression", lambda: ddb.scan(TableName=listed, FilterExpression=f"size(l[{big}]) > :n",
                                              ExpressionAttributeValues={":n": {"N": "0"}})),
    ]
    for member, call in cases:
        with pytest.raises(ClientError) as exc:
            call()
        assert _error(exc) == ("ValidationException", f"Invalid {member}: " + _TOO_LARGE.format(big))
    assert ddb.get_item(TableName=listed, Key=key)["Item"]["l"] == {"L": [{"S": "x"}, {"S": "y"}]}


def test_list_index_at_the_limit_reads_nothing(ddb: Any, listed: str) -> None:
    key = {"pk": {"S": "a"}}
    assert ddb.get_item(TableName=listed, Key=key, ProjectionExpression="l[2147483647]")["Item"] == {}
    assert ddb.get_item(TableName=listed, Key=key, ProjectionExpression="l[1]")["Item"] == {"l": {"L": [{"S": "y"}]}}
