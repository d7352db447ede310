"""Per-key policies attacked through the spellings DynamoDB accepts for one key: a real server with
``auth = "sigv4"`` and a policies file, boto3 signed by a key that may do anything on a numbers table except
touch partition 2. Every spelling of 2 that reaches the item must meet the Deny (GetItem, Query, batches,
transactions, writes), and a cache hit warmed by the admin key is not served past it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.server_process import ServerProcess

ADMIN, MALLORY, EVE = "AKIDBYPADMIN", "AKIDBYPMALLORY", "AKIDBYPEVE"
SECRETS = {ADMIN: "admin-secret", MALLORY: "mallory-secret", EVE: "eve-secret"}
NUMBERS = f"byp_numbers_{uuid.uuid4().hex[:8]}"
SPELLINGS = ["2", "2.0", "02", "2e0", "+2", "0.2E1", "2.000000"]


def _policies() -> dict[str, Any]:
    return {
        ADMIN: {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["dynamodb:*", "accelerator:*"], "Resource": "*"}]},
        MALLORY: {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "dynamodb:*", "Resource": f"arn:aws:dynamodb:*:*:table/{NUMBERS}"},
            {"Effect": "Deny", "Action": "dynamodb:*", "Resource": f"arn:aws:dynamodb:*:*:table/{NUMBERS}",
             "Condition": {"ForAnyValue:StringEquals": {"dynamodb:LeadingKeys": ["2"]}}}]},
        # everything but the numbers table, named by the TableArn DescribeTable reports
        EVE: {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "dynamodb:*",
             "Resource": f"arn:aws:dynamodb:ddblocal:000000000000:table/{NUMBERS}"}]},
    }


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    path: Path = tmp_path_factory.mktemp("policies") / "policies.json"
    path.write_text(json.dumps(_policies()))
    proc = ServerProcess({"kind": "memory"}, server={"auth": "sigv4", "credentials": SECRETS,
                                                      "policies": str(path)}).start()
    admin = _client(proc.url, ADMIN)
    admin.create_table(TableName=NUMBERS, BillingMode="PAY_PER_REQUEST",
                       KeySchema=[{"AttributeName": "n", "KeyType": "HASH"}],
                       AttributeDefinitions=[{"AttributeName": "n", "AttributeType": "N"}])
    for n in ("1", "2"):
        admin.put_item(TableName=NUMBERS, Item={"n": {"N": n}, "v": {"S": f"row {n}"}})
    yield proc
    proc.stop()


def _client(url: str, key: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=SECRETS[key], config=Config(retries={"max_attempts": 1}))


def _denied(call: Any, **kwargs: Any) -> None:
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    error = exc.value.response["Error"]
    assert error["Code"] == "AccessDeniedException", error
    assert error["Message"].endswith("with an explicit deny in an identity-based policy"), error


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_of_a_denied_number_key_meets_the_deny(secured: ServerProcess, spelling: str) -> None:
    admin, mallory = _client(secured.url, ADMIN), _client(secured.url, MALLORY)
    key = {"n": {"N": spelling}}
    assert admin.get_item(TableName=NUMBERS, Key=key)["Item"]["v"] == {"S": "row 2"}  # the item, cache warmed
    _denied(mallory.get_item, TableName=NUMBERS, Key=key)
    _denied(mallory.query, TableName=NUMBERS, KeyConditionExpression="n = :n", ExpressionAttributeValues={":n": key["n"]})
    _denied(mallory.query, TableName=NUMBERS,
            KeyConditions={"n": {"ComparisonOperator": "EQ", "AttributeValueList": [key["n"]]}})
    _denied(mallory.batch_get_item, RequestItems={NUMBERS: {"Keys": [{"n": {"N": "1"}}, key]}})
    _denied(mallory.transact_get_items, TransactItems=[{"Get": {"TableName": NUMBERS, "Key": key}}])
    _denied(mallory.put_item, TableName=NUMBERS, Item={**key, "v": {"S": "overwritten"}})
    _denied(mallory.update_item, TableName=NUMBERS, Key=key, UpdateExpression="SET v = :v",
            ExpressionAttributeValues={":v": {"S": "overwritten"}})
    _denied(mallory.delete_item, TableName=NUMBERS, Key=key)
    assert admin.get_item(TableName=NUMBERS, Key={"n": {"N": "2"}}, ConsistentRead=True)["Item"]["v"] == \
        {"S": "row 2"}, "nothing written"


def test_other_partitions_stay_allowed(secured: ServerProcess) -> None:
    mallory = _client(secured.url, MALLORY)
    for spelling in ("1", "1.0", "01"):
        assert mallory.get_item(TableName=NUMBERS, Key={"n": {"N": spelling}})["Item"]["v"] == {"S": "row 1"}


@pytest.mark.parametrize("value", [{"S": "2.0"}, {"S": "2"}, {"B": "Mg=="}, {"N": " 2"}, {"N": "2 "}, {"N": "0x2"}])
def test_a_key_of_another_type_or_a_bad_number_reaches_no_item(secured: ServerProcess, value: dict[str, str]) -> None:
    """Spellings the policy does not read as 2 must not reach item 2 either: the store refuses them."""
    mallory = _client(secured.url, MALLORY)
    for call, kwargs in ((mallory.get_item, {"Key": {"n": value}}),
                         (mallory.query, {"KeyConditionExpression": "n = :n", "ExpressionAttributeValues": {":n": value}})):
        with pytest.raises(ClientError) as exc:
            call(TableName=NUMBERS, **kwargs)
        assert exc.value.response["Error"]["Code"] in ("ValidationException", "AccessDeniedException")


@pytest.mark.parametrize("arn", [
    "arn:aws:dynamodb:us-east-1:123456789012:table/{t}", "arn:aws:dynamodb:ddblocal:000000000000:table/{t}/stream/x",
    "arn:x:table/{t}"])
def test_a_table_named_by_another_spelling_of_its_arn_meets_the_deny(secured: ServerProcess, arn: str) -> None:
    """Operations taking a table ARN (tags, backups, continuous backups) find the table by the name after
    ":table/": the policy must judge that table, not the text, or a Deny on the table's ARN is walked around."""
    eve, arn = _client(secured.url, EVE), arn.format(t=NUMBERS)
    _denied(eve.list_tags_of_resource, ResourceArn=arn)
    _denied(eve.tag_resource, ResourceArn=arn, Tags=[{"Key": "owner", "Value": "eve"}])
    _denied(eve.untag_resource, ResourceArn=arn, TagKeys=["owner"])
    _denied(eve.create_backup, TableName=arn, BackupName="stolen")
    _denied(eve.describe_continuous_backups, TableName=arn)
    _denied(eve.update_continuous_backups, TableName=arn,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    admin = _client(secured.url, ADMIN)
    table_arn = admin.describe_table(TableName=NUMBERS)["Table"]["TableArn"]
    assert admin.list_tags_of_resource(ResourceArn=table_arn).get("Tags", []) == []
    assert admin.list_backups(TableName=NUMBERS)["BackupSummaries"] == []
