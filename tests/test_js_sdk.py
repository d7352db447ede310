"""The AWS SDK for JavaScript v3 (client-dynamodb, lib-dynamodb, client-dynamodb-streams), unmodified, against
real server processes: one Node run per server setup (tests/js/sdk_scenarios.mjs), asserted here on the JSON it
prints. Setups: plain HTTP on SQLite; auth = "sigv4" with a per-key policy; the same over TLS with a CA the
test makes (trusted through NODE_EXTRA_CA_CERTS, and refused without it)."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.js_sdk import NodeSdk, install_sdk
from tests.server_process import ServerProcess
from tests.tls_certs import make_ca_and_server_cert

KEY, SECRET = "AKIDJSSDK", "js/sdk+secret"
READER, READER_SECRET = "AKIDJSREADER", "reader-secret"
SIGNED_TABLE = "js_signed"


@pytest.fixture(scope="module")
def sdk() -> NodeSdk:
    return NodeSdk(install_sdk())


@pytest.fixture(scope="module")
def full_run(sdk: NodeSdk) -> Iterator[dict[str, Any]]:
    proc = ServerProcess({"kind": "sqlite"}).start()
    try:
        yield sdk.run("full", proc.url, table="js_full")
    finally:
        proc.stop()


def _signed_server(directory: Path, tls: tuple[Path, Path] | None = None) -> ServerProcess:
    policies = directory / "policies.json"
    policies.write_text(json.dumps({
        KEY: {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]},
        READER: {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": f"arn:aws:dynamodb:*:*:table/{SIGNED_TABLE}",
            "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["k"]}}}]},
    }))
    server: dict[str, Any] = {"auth": "sigv4", "credentials": {KEY: SECRET, READER: READER_SECRET},
                              "policies": str(policies)}
    if tls is not None:
        server.update(tls_cert=str(tls[0]), tls_key=str(tls[1]))
    return ServerProcess({"kind": "memory"}, server=server).start()


def _signed(sdk: NodeSdk, endpoint: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    return sdk.run("signed", endpoint, extra_env=env, table=SIGNED_TABLE, key=KEY, secret=SECRET,
                   reader={"key": READER, "secret": READER_SECRET})


@pytest.fixture(scope="module")
def sigv4_run(sdk: NodeSdk, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    proc = _signed_server(tmp_path_factory.mktemp("js-sigv4"))
    try:
        yield _signed(sdk, proc.url)
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def tls_runs(sdk: NodeSdk, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], ...]]:
    directory = tmp_path_factory.mktemp("js-tls")
    ca, cert, key = make_ca_and_server_cert(directory)
    proc = _signed_server(directory, (cert, key))
    endpoint = f"https://localhost:{proc.port}"
    try:
        yield (_signed(sdk, endpoint, {"NODE_EXTRA_CA_CERTS": str(ca)}),
               sdk.run("untrusted", endpoint, key=KEY, secret=SECRET))
    finally:
        proc.stop()


def S(value: str) -> dict[str, str]:  # noqa: N802 - DynamoDB's type letter
    return {"S": value}


def N(value: int | str) -> dict[str, str]:  # noqa: N802
    return {"N": str(value)}


FIRST = {"pk": S("a"), "sk": N(1), "user": S("ada"), "n": N(5), "tags": {"SS": ["x", "y"]},
         "blob": {"B": {"$bytes": "AAEC/w=="}}}
UPDATED = {"pk": S("a"), "sk": N(1), "user": S("ann"), "n": N(6), "tags": {"SS": ["x", "y", "z"]}}


def test_create_table_with_gsi_and_stream_and_the_waiter(full_run: dict[str, Any]) -> None:
    create = full_run["create"]
    assert create["created"] == {"status": "ACTIVE", "hasArn": True,
                                 "stream": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}}
    assert create["waiter"] == "SUCCESS" and create["status"] == "ACTIVE"
    assert create["indexes"] == [["by_user", "ACTIVE"]]
    assert create["streamArn"].endswith(f"table/js_full/stream/{create['label']}")


def test_items_with_expressions(full_run: dict[str, Any]) -> None:
    # TOTAL counts the table's write and the GSI's, as DynamoDB does.
    assert full_run["put"] == {"capacity": {"TableName": "js_full", "CapacityUnits": 2}, "status": 200}
    assert full_run["get"] == FIRST
    assert full_run["update"] == UPDATED
    assert full_run["delete"] == {"pk": S("a"), "sk": N(36), "user": S("bob"), "n": N(36)}


def test_conditional_check_failed_as_the_sdk_surfaces_it(full_run: dict[str, Any]) -> None:
    failed = full_run["conditionFailed"]
    assert {k: failed[k] for k in ("name", "message", "status", "fault", "isClass")} == {
        "name": "ConditionalCheckFailedException", "message": "The conditional request failed", "status": 400,
        "fault": "client", "isClass": True}
    assert failed["item"] == UPDATED  # ReturnValuesOnConditionCheckFailure ALL_OLD
    assert re.fullmatch(r"[0-9A-Z]{36}", failed["requestId"])


def test_batch_write_and_get(full_run: dict[str, Any]) -> None:
    assert full_run["batch"] == {"unprocessedWrites": [0, 0], "unprocessedKeys": 0, "sks": list(range(1, 37)),
                                 "attributes": ["sk", "user"]}


def test_query_on_the_gsi_and_the_paginator(full_run: dict[str, Any]) -> None:
    query = full_run["query"]
    assert query["gsi"] == [14, 13, 12, 11, 10] and query["gsiCount"] == 5
    assert [len(page) for page in query["pages"]] == [7, 7, 7, 7, 7, 1]
    assert [sk for page in query["pages"] for sk in page] == list(range(1, 37))


def test_transact_write_with_the_sdks_client_request_token(full_run: dict[str, Any]) -> None:
    transact = full_run["transact"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", transact["token"])
    assert transact["status"] == 200 and transact["n"] == "60"
    [capacity] = transact["capacity"]
    assert capacity["TableName"] == "js_full" and capacity["CapacityUnits"] > 0


def test_transaction_canceled_as_the_sdk_surfaces_it(full_run: dict[str, Any]) -> None:
    canceled = full_run["transactCanceled"]
    assert canceled["name"] == "TransactionCanceledException" and canceled["isClass"] and canceled["status"] == 400
    assert canceled["message"] == ("Transaction cancelled, please refer cancellation reasons for specific reasons "
                                   "[None, ConditionalCheckFailed]")
    assert canceled["reasons"] == [
        {"code": "None", "message": None, "item": None},
        {"code": "ConditionalCheckFailed", "message": "The conditional request failed",
         "item": {**UPDATED, "n": N(60)}},
    ]


def test_document_client_marshalling(full_run: dict[str, Any]) -> None:
    doc = full_run["document"]

    def num(value: str) -> dict[str, str]:
        return {"$number": value}

    stored: dict[str, Any] = {"pk": "doc", "sk": num("1"), "user": "carol", "n": num("3"),
              "nested": {"list": [num("1"), "two", {"three": True}], "nothing": None, "bytes": {"$bytes": "CQg="}},
              "tags": {"$set": ["p", "q"]}, "nums": {"$set": [num("1"), num("2")]},
              "big": num("12345678901234567890.5")}
    assert doc["got"] == stored  # undefined dropped, null kept, sets and 38-digit numbers round-trip
    added = {"deep": [{"$set": ["s"]}]}
    assert doc["updated"] == {"nested": {"list": ["one"], "added": added}}  # UPDATED_NEW: only what changed
    nested = {**stored["nested"], "list": ["one", "two", {"three": True}], "added": added}
    assert doc["queried"] == [{**stored, "nested": nested}]


def test_stream_read_sees_every_write(full_run: dict[str, Any]) -> None:
    streams = full_run["streams"]
    assert streams["listed"] == [{"table": "js_full", "label": full_run["create"]["label"],
                                  "arn": full_run["create"]["streamArn"]}]
    assert (streams["status"], streams["viewType"], streams["tableName"]) == ("ENABLED", "NEW_AND_OLD_IMAGES",
                                                                              "js_full")
    assert streams["keySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"},
                                    {"AttributeName": "sk", "KeyType": "RANGE"}]
    records = streams["records"]
    per_key: dict[tuple[str, str], list[str]] = defaultdict(list)
    for record in records:
        per_key[record["pk"], record["sk"]].append(record["eventName"])
    expected = {("a", "1"): ["INSERT", "MODIFY", "MODIFY"], ("a", "36"): ["INSERT", "REMOVE"],
                ("a", "100"): ["INSERT"], ("doc", "1"): ["INSERT", "MODIFY"],
                **{("a", str(i)): ["INSERT"] for i in range(2, 36)}}
    assert dict(per_key) == expected  # the failed condition and the canceled transaction wrote nothing
    sequences = [int(r["sequence"]) for r in records]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    assert {(r["eventSource"], r["viewType"], r["created"]) for r in records} == {
        ("aws:dynamodb", "NEW_AND_OLD_IMAGES", True)}
    assert (records[0]["newImage"], records[0]["oldImage"]) == (FIRST, None)
    assert (records[1]["newImage"], records[1]["oldImage"]) == (UPDATED, FIRST)
    removed = [r for r in records if r["eventName"] == "REMOVE"]
    assert [(r["newImage"], r["oldImage"]) for r in removed] == [(None, full_run["delete"])]


def _assert_signed(run: dict[str, Any]) -> None:
    item = {"pk": S("k"), "v": S("signed")}
    assert run["signed"] == {"reads": [item, item], "tables": [SIGNED_TABLE], "streams": 1}
    mismatch = ("The request signature we calculated does not match the signature you provided. Check your AWS "
                "Secret Access Key and signing method. Consult the service documentation for details.")
    for step in ("wrongSecret", "wrongSecretStreams"):
        assert {k: run[step][k] for k in ("name", "message", "status")} == {
            "name": "InvalidSignatureException", "message": mismatch, "status": 400}, step
    assert {k: run["unknownKey"][k] for k in ("name", "message", "status")} == {
        "name": "UnrecognizedClientException", "message": "The security token included in the request is invalid.",
        "status": 400}
    policy = run["policy"]
    assert policy["allowed"] == item
    arn = f"arn:aws:dynamodb:ddblocal:000000000000:table/{SIGNED_TABLE}"
    for step, action in (("otherKey", "GetItem"), ("put", "PutItem")):
        assert {k: policy[step][k] for k in ("name", "message", "status")} == {
            "name": "AccessDeniedException", "status": 400,
            "message": f"User: arn:aws:iam::000000000000:user/{READER} is not authorized to perform: "
                       f"dynamodb:{action} on resource: {arn} because no identity-based policy allows the "
                       f"dynamodb:{action} action"}, step


def test_sigv4_keys_signatures_and_policies(sigv4_run: dict[str, Any]) -> None:
    _assert_signed(sigv4_run)


def test_tls_with_the_test_ca_and_refused_without_it(tls_runs: tuple[dict[str, Any], ...]) -> None:
    trusted, untrusted = tls_runs
    _assert_signed(trusted)
    refused = untrusted["untrusted"]
    assert refused["code"] == "UNABLE_TO_VERIFY_LEAF_SIGNATURE", refused
