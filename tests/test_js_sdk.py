"""The AWS SDK for JavaScript v3 (client-dynamodb, lib-dynamodb, client-dynamodb-streams), unmodified, against
real server processes: one Node run per server setup (tests/js/sdk_scenarios.mjs), asserted here on the JSON it
prints. Setups: plain HTTP on SQLite; auth = "sigv4" with a per-key policy; the same over TLS with a CA the
test makes (trusted through NODE_EXTRA_CA_CERTS, and refused without it), where the full data-plane run is
repeated."""

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
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return make_ca_and_server_cert(tmp_path_factory.mktemp("js-tls"))


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


@pytest.fixture(scope="module")
def tls_server(certs: tuple[Path, Path, Path]) -> Iterator[ServerProcess]:
    proc = _signed_server(certs[0].parent, certs[1:])
    yield proc
    proc.stop()


@pytest.fixture(scope="module", params=["http-sqlite", "https-sigv4-memory"])
def full_run(request: pytest.FixtureRequest, sdk: NodeSdk) -> Iterator[dict[str, Any]]:
    """Every data-plane step, on plain HTTP, then signed and over TLS (every request signed, every byte TLS)."""
    if request.param == "http-sqlite":  # shards roll over every 0.3 s: the reader follows parents to children
        proc = ServerProcess({"kind": "sqlite", "stream_shard_seconds": 0.3, "log_upkeep_interval": 0.2}).start()
        try:
            yield sdk.run("full", proc.url, table="js_full", exportDir=str(proc.dir / "exports"), rolls=True)
        finally:
            proc.stop()
        return
    tls: ServerProcess = request.getfixturevalue("tls_server")
    ca = request.getfixturevalue("certs")[0]
    yield sdk.run("full", f"https://localhost:{tls.port}", extra_env={"NODE_EXTRA_CA_CERTS": str(ca)},
                  table="js_full", exportDir=str(tls.dir / "exports"), key=KEY, secret=SECRET)


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
def tls_runs(sdk: NodeSdk, tls_server: ServerProcess, certs: tuple[Path, Path, Path]) -> tuple[dict[str, Any], ...]:
    endpoint = f"https://localhost:{tls_server.port}"
    return (_signed(sdk, endpoint, {"NODE_EXTRA_CA_CERTS": str(certs[0])}),
            sdk.run("untrusted", endpoint, key=KEY, secret=SECRET))


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
    # Written: the put (table and GSI), the update (table; the GSI entry moves: delete and put), the check;
    # all doubled. Replayed: a transactional read of each of the three small items.
    assert transact["capacity"] == [{"TableName": "js_full", "CapacityUnits": 2 * (2 + 3 + 1)}]
    assert transact["replayCapacity"] == [{"TableName": "js_full", "CapacityUnits": 3 * 2}]


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
    if "rolled" in full_run:  # the writes after the batch went to a child shard: read after its parent
        first, second = full_run["rolled"][:2]
        assert first == {"parent": None, "closed": True} and second["parent"] is not None
        assert streams["shards"] >= 2
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
    assert run["signed"]["reads"] == [item, item] and run["signed"]["streams"] == 1
    assert SIGNED_TABLE in run["signed"]["tables"]
    mismatch = ("The request signature we calculated does not match the signature you provided. Check your AWS "
                "Secret Access Key and signing method. Consult the service documentation for details.")
    for step in ("wrongSecret", "wrongSecretStreams"):
        assert {k: run[step][k] for k in ("name", "message", "status")} == {
            "name": "InvalidSignatureException", "message": mismatch, "status": 400}, step
    assert {k: run["unknownKey"][k] for k in ("name", "message", "status")} == {
        "name": "UnrecognizedClientException", "message": "The security token included in the request is invalid.",
        "status": 400}
    skew = run["skewedClock"]
    stamp = r"\d{8}T\d{6}Z"
    assert skew["refused"]["name"] == "InvalidSignatureException", skew
    assert re.fullmatch(rf"Signature expired: {stamp} is now earlier than {stamp} \({stamp} - 5 min\.\)",
                        skew["refused"]["message"]), skew
    assert skew["corrected"] == {"item": item, "attempts": 2}  # the SDK took the server's Date and retried
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


def _error(failed: dict[str, Any]) -> tuple[str, str, int]:
    return failed["name"], failed["message"], failed["status"]


def test_document_batches_and_transactions(full_run: dict[str, Any]) -> None:
    more = full_run["documentBatches"]
    assert more["got"] == [{"pk": "t", "sk": "1", "list": []},
                           {"pk": "u", "sk": "a", "i": 0, "flag": True, "list": [1, 2]}]
    assert _error(more["emptyKey"]) == (
        "ValidationException", "One or more parameter values are not valid. The AttributeValue for a key attribute "
        "cannot contain an empty string value. Key: sk", 400)


def test_utf8_key_order_transact_get_and_scans(full_run: dict[str, Any]) -> None:
    reads = full_run["reads"]
    # By UTF-8 bytes, as DynamoDB orders: JavaScript's own UTF-16 order would put U+1F600 before U+FFFF.
    assert reads["order"] == ["Z", "a", "a\0b", "\u00e9", "\uffff", "\U0001f600"]
    assert reads["transactGet"] == [{"Item": {"i": N(1)}}, {}]
    assert sum(s["count"] for s in reads["segments"]) == 3 and sum(s["scanned"] for s in reads["segments"]) == 7
    assert reads["count"] == {"count": 7, "scanned": 7, "items": None}
    # Limit reached on the last item: DynamoDB still hands out a LastEvaluatedKey, and the next page is empty.
    assert reads["docPages"] == [["Z", "a"], ["a\0b", "\u00e9"], ["\uffff", "\U0001f600"], []]
    assert sorted(reads["scanned"]) == sorted(["t/1", *(f"u/{k}" for k in reads["order"])])  # each item once


def test_errors_as_the_sdk_surfaces_them(full_run: dict[str, Any]) -> None:
    errors = full_run["errors"]
    assert _error(errors["missingTable"]) == ("ResourceNotFoundException", "Requested resource not found", 400)
    assert errors["missingTable"]["isClass"]
    assert _error(errors["badExpression"]) == (
        "ValidationException", "Invalid UpdateExpression: Two document paths overlap with each other; must remove or "
        "rewrite one of these paths; path one: [a], path two: [a]", 400)
    assert _error(errors["unusedValue"]) == (
        "ValidationException", "Value provided in ExpressionAttributeValues unused in expressions: keys: {:x}", 400)
    # PartiQL is not served (README: What the API covers); the SDK reports the operation as unknown.
    assert errors["partiql"]["name"] == "UnknownOperationException"
    assert _error(errors["badIterator"]) == ("ValidationException", "Invalid ShardIterator", 400)
    stream = "arn:aws:dynamodb:ddblocal:000000000000:table/js_full_more/stream/2000-01-01T00:00:00.000"
    assert _error(errors["noStream"]) == (
        "ResourceNotFoundException", f"Requested resource not found: Stream: {stream} not found", 400)
    assert _error(errors["tooLarge"]) == ("ValidationException", "Item size has exceeded the maximum allowed size", 400)


def test_ttl_and_tags(full_run: dict[str, Any]) -> None:
    settings = full_run["tableSettings"]
    assert settings == {"ttl": {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"},
                        "tags": [{"Key": "team", "Value": "js"}]}


def test_stream_iterator_types(full_run: dict[str, Any]) -> None:
    iterators = full_run["streamIterators"]
    written = ["u/a", "u/Z", "u/\u00e9", "u/\uffff", "u/\U0001f600", "u/a\0b", "t/1", "u/a"]
    assert iterators == {"trimHorizon": written, "at": written[1:3], "after": written[2:3], "latest": ["after/latest"]}


def test_backup_and_restore(full_run: dict[str, Any]) -> None:
    backups = full_run["backups"]
    assert backups == {
        "status": "CREATING", "name": "js-backup", "source": "js_full_more",
        "keySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "listed": [["js-backup", "AVAILABLE", "USER"]], "restoredName": "js_full_more_restored",
        "restoreSummary": {"source": True, "inProgress": "boolean", "date": True}, "waiter": "SUCCESS", "count": 8,
        "deleted": ["DELETING", "SUCCESS"]}


def test_point_in_time_restore_and_export(full_run: dict[str, Any]) -> None:
    pitr = full_run["pitrAndExport"]
    assert pitr["enabled"] == "ENABLED" and pitr["window"] == {"earliest": True, "latest": True, "days": 35}
    assert (pitr["restored"], pitr["count"], pitr["atTime"]) == ("js_full_more_pitr", 8, ["before"])
    export = pitr["export"]
    assert (export["status"], export["items"], export["format"], export["failure"]) == (
        "COMPLETED", 10, "DYNAMODB_JSON", None)
    assert re.fullmatch(r"AWSDynamoDB/[0-9]{14}-[0-9a-f]{8}/manifest-summary\.json", export["manifest"])
