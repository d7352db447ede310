"""Per-key policies end to end: a real server with ``auth = "sigv4"`` and a policies file, boto3 signed
with an unrestricted key and with a key limited to its own partition (LeadingKeys) and a subset of
attributes. Cache hits get the same decision as misses; a batch or transaction with one forbidden item
is refused whole and writes nothing; a bad policies file stops the start with one line."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.server_process import ROOT, ServerProcess, write_config

ADMIN, ALICE, CAROL = "AKIDPOLADMIN", "AKIDPOLALICE", "AKIDPOLCAROL"
SECRETS = {ADMIN: "admin-secret", ALICE: "alice-secret", CAROL: "carol-secret"}
TABLE = f"pol_sessions_{uuid.uuid4().hex[:8]}"
ALICE_ATTRIBUTES = ["user", "sk", "data", "email"]


def _policies() -> dict[str, Any]:
    return {
        ADMIN: {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["dynamodb:*", "accelerator:*"], "Resource": "*"}]},
        ALICE: {"Version": "2012-10-17", "Statement": [
            {"Sid": "OwnRowsSomeAttributes", "Effect": "Allow",
             "Action": ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan",
                        "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"],
             "Resource": [f"arn:aws:dynamodb:*:*:table/{TABLE}", f"arn:aws:dynamodb:*:*:table/{TABLE}/index/*"],
             "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["alice"],
                                                         "dynamodb:Attributes": ALICE_ATTRIBUTES}}},
            {"Effect": "Allow", "Action": "dynamodb:DescribeTable", "Resource": "*"},
            {"Effect": "Deny", "Action": "dynamodb:*", "Resource": f"arn:aws:dynamodb:*:*:table/{TABLE}/index/hidden"},
        ]},
        # CAROL signs correctly but the file has no entry for her: no access at all.
    }


@pytest.fixture(scope="module", params=[1, 2], ids=["one-process", "two-workers"])
def secured(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    path = tmp_path_factory.mktemp("policies") / "policies.json"
    path.write_text(json.dumps(_policies()))
    backend = {"kind": "memory"} if request.param == 1 else {"kind": "sqlite"}  # workers share a store
    proc = ServerProcess(backend, server={"auth": "sigv4", "credentials": SECRETS, "policies": str(path),
                                          "workers": request.param}).start()
    admin = _client(proc.url, ADMIN)
    admin.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "user", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("user", "sk", "email")],
        GlobalSecondaryIndexes=[
            {"IndexName": name, "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
             "Projection": {"ProjectionType": "ALL"}} for name in ("byEmail", "hidden")])
    for user in ("alice", "bob"):
        admin.put_item(TableName=TABLE, Item={"user": {"S": user}, "sk": {"S": "s1"}, "data": {"S": f"{user} data"},
                                              "email": {"S": user}, "secret": {"S": f"{user} secret"}})
    yield proc
    proc.stop()


def _client(url: str, key: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=SECRETS[key], config=Config(retries={"max_attempts": 1}))


def _key(user: str) -> dict[str, Any]:
    return {"user": {"S": user}, "sk": {"S": "s1"}}


def _denied(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    response = exc.value.response
    assert response["Error"]["Code"] == "AccessDeniedException", response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "x-accelerator-cache" not in response["ResponseMetadata"]["HTTPHeaders"], "the cache was consulted"
    return response


def _cache(response: dict[str, Any]) -> str | None:
    return response["ResponseMetadata"]["HTTPHeaders"].get("x-accelerator-cache")


PROJECTION = {"ProjectionExpression": "#u, sk, #d", "ExpressionAttributeNames": {"#u": "user", "#d": "data"}}


def test_own_rows_and_attributes_only(secured: ServerProcess) -> None:
    alice = _client(secured.url, ALICE)
    item = alice.get_item(TableName=TABLE, Key=_key("alice"), **PROJECTION)["Item"]
    assert item == {"user": {"S": "alice"}, "sk": {"S": "s1"}, "data": {"S": "alice data"}}
    message = _denied(alice.get_item, TableName=TABLE, Key=_key("bob"), **PROJECTION)["Error"]["Message"]
    assert message == (f"User: arn:aws:iam::000000000000:user/{ALICE} is not authorized to perform: "
                       f"dynamodb:GetItem on resource: arn:aws:dynamodb:ddblocal:000000000000:table/{TABLE} "
                       "because no identity-based policy allows the dynamodb:GetItem action")
    _denied(alice.get_item, TableName=TABLE, Key=_key("alice"))  # the whole item includes "secret"
    _denied(alice.get_item, TableName=TABLE, Key=_key("alice"), ProjectionExpression="secret")
    _denied(alice.get_item, TableName=TABLE, Key=_key("alice"), AttributesToGet=["user", "secret"])
    alice.put_item(TableName=TABLE, Item={**_key("alice"), "data": {"S": "new"}, "email": {"S": "alice"}})
    _denied(alice.put_item, TableName=TABLE, Item={**_key("alice"), "secret": {"S": "x"}})
    _denied(alice.put_item, TableName=TABLE, Item={**_key("bob"), "data": {"S": "mine now"}})
    alice.update_item(TableName=TABLE, Key=_key("alice"), UpdateExpression="SET #d = :v",
                      ExpressionAttributeNames={"#d": "data"}, ExpressionAttributeValues={":v": {"S": "v2"}})
    _denied(alice.update_item, TableName=TABLE, Key=_key("alice"), UpdateExpression="SET #d = :v",
            ConditionExpression="attribute_exists(secret)", ExpressionAttributeNames={"#d": "data"},
            ExpressionAttributeValues={":v": {"S": "v3"}})
    _denied(alice.delete_item, TableName=TABLE, Key=_key("alice"))  # not among her actions
    admin = _client(secured.url, ADMIN)
    assert admin.get_item(TableName=TABLE, Key=_key("bob"))["Item"]["data"] == {"S": "bob data"}, "nothing written"
    assert admin.get_item(TableName=TABLE, Key=_key("alice"))["Item"]["data"] == {"S": "v2"}


def _worker(response: dict[str, Any]) -> str | None:
    return response["ResponseMetadata"]["HTTPHeaders"].get("x-accelerator-worker")


def _admin_beside(url: str, worker: str | None) -> Any:
    """An admin client whose connection reaches ``worker`` (each worker has a cache of its own)."""
    for _ in range(64):  # the kernel spreads new connections over the workers
        admin = _client(url, ADMIN)
        if _worker(admin.describe_table(TableName=TABLE)) == worker:
            return admin
        admin.close()
    raise AssertionError(f"no connection reached worker {worker}")


def test_cache_hits_get_the_same_decision(secured: ServerProcess) -> None:
    alice = _client(secured.url, ALICE)
    first = alice.get_item(TableName=TABLE, Key=_key("alice"), **PROJECTION)
    assert _cache(alice.get_item(TableName=TABLE, Key=_key("alice"), **PROJECTION)) == "hit", \
        "an allowed key is served from the cache"
    admin = _admin_beside(secured.url, _worker(first))  # warm the cache alice's connection reads from
    for _ in range(2):  # the second read is a hit
        warmed = admin.get_item(TableName=TABLE, Key=_key("bob"), **PROJECTION)
    assert _cache(warmed) == "hit"
    _denied(alice.get_item, TableName=TABLE, Key=_key("bob"), **PROJECTION)
    _denied(alice.batch_get_item, RequestItems={TABLE: {"Keys": [_key("bob")], **PROJECTION}})
    query = {"TableName": TABLE, "KeyConditionExpression": "#u = :u", "ExpressionAttributeValues": {":u": {"S": "bob"}},
             **PROJECTION}
    for _ in range(2):
        hit = admin.query(**query)
    assert _cache(hit) == "hit"
    _denied(alice.query, **query)
    assert _worker(alice.get_item(TableName=TABLE, Key=_key("alice"), **PROJECTION)) == _worker(first)


def test_query_scan_and_indexes(secured: ServerProcess) -> None:
    alice = _client(secured.url, ALICE)
    own = alice.query(TableName=TABLE, KeyConditionExpression="#u = :u", ExpressionAttributeValues={":u": {"S": "alice"}},
                      **PROJECTION)
    assert [i["user"]["S"] for i in own["Items"]] == ["alice"]
    _denied(alice.query, TableName=TABLE, KeyConditionExpression="#u = :u",
            ExpressionAttributeValues={":u": {"S": "alice"}}, ExpressionAttributeNames={"#u": "user"})  # all attrs
    _denied(alice.query, TableName=TABLE, KeyConditions={
        "user": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "bob"}]}}, AttributesToGet=["user"])
    _denied(alice.scan, TableName=TABLE, **PROJECTION)  # a Scan cannot satisfy LeadingKeys
    by_email = {"TableName": TABLE, "IndexName": "byEmail", "KeyConditionExpression": "email = :e",
                "ProjectionExpression": "#u, email", "ExpressionAttributeNames": {"#u": "user"}}
    found = alice.query(**by_email, ExpressionAttributeValues={":e": {"S": "alice"}})
    assert found["Items"] == [{"user": {"S": "alice"}, "email": {"S": "alice"}}]
    _denied(alice.query, **by_email, ExpressionAttributeValues={":e": {"S": "bob"}})
    message = _denied(alice.query, **{**by_email, "IndexName": "hidden"},
                      ExpressionAttributeValues={":e": {"S": "alice"}})["Error"]["Message"]
    assert message.endswith(f"on resource: arn:aws:dynamodb:ddblocal:000000000000:table/{TABLE}/index/hidden "
                            "with an explicit deny in an identity-based policy")


def test_batches_and_transactions_are_refused_whole(secured: ServerProcess) -> None:
    admin, alice = _client(secured.url, ADMIN), _client(secured.url, ALICE)
    item = {"user": {"S": "alice"}, "sk": {"S": "batch"}, "data": {"S": "b"}}
    forbidden = {"user": {"S": "bob"}, "sk": {"S": "batch"}, "data": {"S": "b"}}
    _denied(alice.batch_write_item, RequestItems={TABLE: [{"PutRequest": {"Item": item}},
                                                          {"PutRequest": {"Item": forbidden}}]})
    _denied(alice.batch_get_item, RequestItems={TABLE: {"Keys": [_key("alice"), _key("bob")], **PROJECTION}})
    _denied(alice.transact_write_items, TransactItems=[{"Put": {"TableName": TABLE, "Item": item}},
                                                       {"Put": {"TableName": TABLE, "Item": forbidden}}])
    gets = [{"Get": {"TableName": TABLE, "Key": _key(user), **PROJECTION}} for user in ("alice", "bob")]
    _denied(alice.transact_get_items, TransactItems=gets)
    assert len(alice.transact_get_items(TransactItems=gets[:1])["Responses"]) == 1, "each item needs GetItem"
    for user in ("alice", "bob"):
        assert "Item" not in admin.get_item(TableName=TABLE, Key={"user": {"S": user}, "sk": {"S": "batch"}},
                                            ConsistentRead=True), "a refused request wrote nothing"
    alice.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": item}}]})
    alice.transact_write_items(TransactItems=[{"Put": {"TableName": TABLE, "Item": item}}])
    got = alice.batch_get_item(RequestItems={TABLE: {"Keys": [{"user": {"S": "alice"}, "sk": {"S": "batch"}}],
                                                     **PROJECTION}})
    assert got["Responses"][TABLE] == [item]


def test_a_key_without_an_entry_has_no_access(secured: ServerProcess) -> None:
    carol = _client(secured.url, CAROL)
    message = _denied(carol.list_tables)["Error"]["Message"]
    assert message == (f"User: arn:aws:iam::000000000000:user/{CAROL} is not authorized to perform: "
                       "dynamodb:ListTables on resource: * because no identity-based policy allows the "
                       "dynamodb:ListTables action")
    _denied(carol.get_item, TableName=TABLE, Key=_key("alice"), **PROJECTION)
    _denied(_client(secured.url, ALICE).delete_table, TableName=TABLE)
    assert TABLE in _client(secured.url, ADMIN).list_tables()["TableNames"]


def _start_error(tmp_path: Path, server: dict[str, Any]) -> tuple[int, list[str]]:
    config = write_config(tmp_path / "config.toml", {"server": {"host": "127.0.0.1", "port": 0, **server},
                                                     "backend": {"kind": "memory"}})
    done = subprocess.run([sys.executable, "-m", "accelerator.cli", "serve", "--config", str(config)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    return done.returncode, done.stderr.strip().splitlines()


def test_bad_policies_file_is_one_startup_error_line(tmp_path: Path) -> None:
    path = tmp_path / "policies.json"
    path.write_text(json.dumps({ALICE: {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*",
         "Condition": {"StringEquals": {"dynamodb:LeadingKey": "alice"}}}]}}))
    code, lines = _start_error(tmp_path, {"auth": "sigv4", "credentials": SECRETS, "policies": str(path)})
    assert code == 2
    assert lines == [f"accelerator: error: policies file {path}: access key '{ALICE}': Statement[0].Condition: "
                     "unsupported condition key 'dynamodb:LeadingKey' (supported: dynamodb:LeadingKeys, "
                     "dynamodb:Attributes, dynamodb:Select, dynamodb:ReturnValues, dynamodb:ReturnConsumedCapacity)"]
    code, lines = _start_error(tmp_path, {"policies": str(path)})
    assert code == 2 and len(lines) == 1 and 'needs auth = "sigv4"' in lines[0]
