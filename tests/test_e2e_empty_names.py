"""An empty attribute name is a ValidationException on every path (item, batch, transaction, legacy
parameters), never an attribute named "" stored or a condition quietly evaluated: boto3 against a
real server on every backend, through the cache."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

S = {"S": "x"}
NAMES = {"ExpressionAttributeNames": {"#n": ""}}
EXPRESSION = "ExpressionAttributeNames contains invalid value: Empty attribute name for key #n"
LEGACY = "One or more parameter values were invalid: An AttributeName cannot be empty"

# (what, the call on (client, table), DynamoDB's message)
CASES: list[tuple[str, Callable[[Any, str], Any], str]] = [
    ("update-expression", lambda c, t: c.update_item(
        TableName=t, Key={"pk": {"S": "a"}}, UpdateExpression="SET #n = :v",
        ExpressionAttributeValues={":v": S}, **NAMES), EXPRESSION),
    ("attribute-updates", lambda c, t: c.update_item(
        TableName=t, Key={"pk": {"S": "a"}}, AttributeUpdates={"": {"Value": S, "Action": "PUT"}}), LEGACY),
    ("put-item", lambda c, t: c.put_item(TableName=t, Item={"pk": {"S": "a"}, "": S}), LEGACY),
    ("projection-expression", lambda c, t: c.get_item(
        TableName=t, Key={"pk": {"S": "a"}}, ProjectionExpression="#n", **NAMES), EXPRESSION),
    ("attributes-to-get", lambda c, t: c.get_item(
        TableName=t, Key={"pk": {"S": "a"}}, AttributesToGet=[""]), LEGACY),
    ("condition-expression", lambda c, t: c.put_item(
        TableName=t, Item={"pk": {"S": "a"}}, ConditionExpression="attribute_not_exists(#n)", **NAMES),
     EXPRESSION),
    ("expected", lambda c, t: c.delete_item(
        TableName=t, Key={"pk": {"S": "a"}}, Expected={"": {"Exists": False}}), LEGACY),
    ("query-filter", lambda c, t: c.query(
        TableName=t, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}},
        FilterExpression="attribute_exists(#n)", **NAMES), EXPRESSION),
    ("scan-filter", lambda c, t: c.scan(TableName=t, ScanFilter={"": {"ComparisonOperator": "NULL"}}), LEGACY),
    ("scan-attributes-to-get", lambda c, t: c.scan(TableName=t, AttributesToGet=[""]), LEGACY),
    ("batch-get", lambda c, t: c.batch_get_item(RequestItems={t: {
        "Keys": [{"pk": {"S": "a"}}], "ProjectionExpression": "#n", **NAMES}}), EXPRESSION),
    ("batch-write", lambda c, t: c.batch_write_item(RequestItems={t: [
        {"PutRequest": {"Item": {"pk": {"S": "a"}, "": S}}}]}), LEGACY),
    ("transact-get", lambda c, t: c.transact_get_items(TransactItems=[{"Get": {
        "TableName": t, "Key": {"pk": {"S": "a"}}, "ProjectionExpression": "#n", **NAMES}}]), EXPRESSION),
    ("transact-write", lambda c, t: c.transact_write_items(TransactItems=[{"Update": {
        "TableName": t, "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET #n = :v",
        "ExpressionAttributeValues": {":v": S}, **NAMES}}]), EXPRESSION),
]


@pytest.mark.parametrize(("call", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_empty_attribute_name_is_rejected(ddb: Any, table: str, call: Callable[[Any, str], Any],
                                          message: str) -> None:
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}, "v": S})
    ddb.get_item(TableName=table, Key={"pk": {"S": "a"}})  # cached: the answer must not come from there
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        call(ddb, table)
    error = exc.value.response["Error"]
    assert (error["Code"], error["Message"]) == ("ValidationException", message)
    # nothing was written: the item is as it was, and can be written back whole
    item = ddb.get_item(TableName=table, Key={"pk": {"S": "a"}}, ConsistentRead=True)["Item"]
    assert item == {"pk": {"S": "a"}, "v": S}
    ddb.put_item(TableName=table, Item=item)
