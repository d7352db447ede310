"""moto's server as the upstream DynamoDB of the ``dynamodb`` backend in tests, with moto's own request log.

``MotoServer`` runs ``python -m moto.server`` on a free loopback port with moto's recorder on, so a test can
count the operations that really reached the upstream. ``dynamodb_upstream_backend`` is the end-to-end
suite's "dynamodb-upstream" entry (one moto for the session, stopped at exit), and ``MOTO_DIFFERENCES``
lists the suite's cases where moto itself answers differently from DynamoDB, marked xfail for that entry.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.server_process import free_port

__all__ = ["MotoServer", "KEYS", "UPSTREAM_PARAM", "dynamodb_upstream_backend", "MOTO_DIFFERENCES",
           "SUITE_DIFFERENCES", "mark_moto_differences"]

KEYS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
UPSTREAM_PARAM = "dynamodb-upstream"


class MotoServer:
    """One moto server process; ``operations()`` reads moto's recording of the requests it received."""

    def __init__(self, record: bool = True) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="moto-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.recording = self.dir / "recording.jsonl"
        self.record = record
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> MotoServer:
        env = {**os.environ, **{k.upper(): v for k, v in KEYS.items()}, "AWS_DEFAULT_REGION": "us-east-1"}
        if self.record:
            env.update(MOTO_ENABLE_RECORDING="true", MOTO_RECORDER_FILEPATH=str(self.recording))
        with open(self.dir / "moto.log", "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto exited early:\n{(self.dir / 'moto.log').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                self.client().list_tables()
                return self
            except Exception:  # not listening yet (OSError, botocore's EndpointConnectionError)
                time.sleep(0.05)
        raise RuntimeError("moto server did not start")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def client(self) -> Any:
        """boto3 straight to moto, no retries."""
        return boto3.client("dynamodb", endpoint_url=self.url, region_name="us-east-1", **KEYS,
                            config=Config(retries={"max_attempts": 1, "mode": "standard"}))

    def backend(self, **options: Any) -> dict[str, Any]:
        """A [backend] config section for an accelerator with this moto as its upstream."""
        return {"kind": "dynamodb", "endpoint_url": self.url, "region_name": "us-east-1", **KEYS,
                "retry_mode": "standard", "max_attempts": 2, "connect_timeout": 1.0, "read_timeout": 10.0,
                **options}

    def operations(self) -> list[str]:
        """Operation names of every DynamoDB request moto has received so far, in order."""
        if not self.recording.exists():
            return []
        names = []
        for line in self.recording.read_text().splitlines():
            headers = {k.lower(): v for k, v in json.loads(line)["headers"].items()}
            target = headers.get("x-amz-target", "")
            if target.startswith("DynamoDB_20120810."):
                names.append(target.split(".", 1)[1])
        return names

    def count(self, operation: str) -> int:
        return self.operations().count(operation)

    def bodies(self, operation: str) -> list[dict[str, Any]]:
        """Request bodies moto received for ``operation``, as JSON."""
        out = []
        for line in self.recording.read_text().splitlines():
            entry = json.loads(line)
            headers = {k.lower(): v for k, v in entry["headers"].items()}
            if headers.get("x-amz-target") == f"DynamoDB_20120810.{operation}":
                body = entry["body"]
                out.append(json.loads(base64.b64decode(body) if entry.get("body_encoded") else body))
        return out


_session_moto: MotoServer | None = None


def dynamodb_upstream_backend() -> dict[str, Any]:
    """The e2e suite's [backend] section: the dynamodb backend over one moto server for the whole session."""
    global _session_moto
    if _session_moto is None:
        _session_moto = MotoServer(record=False).start()
        atexit.register(_session_moto.stop)
    return _session_moto.backend()


# The end-to-end suite's cases where moto (5.2) itself answers differently from DynamoDB: the accelerator
# passes moto's answer through unchanged, so it cannot match DynamoDB there. Each was checked against moto
# directly.
# (test name, a fragment of the parametrized id or "" for all, what moto does)
MOTO_DIFFERENCES: list[tuple[str, str, str]] = [
    ("test_bad_numbers", "-1E+126-",
     "accepts numbers over 38 significant digits or beyond DynamoDB's range"),
    ("test_bad_numbers", "-123456789012345678901234567890123456789-",
     "accepts numbers over 38 significant digits or beyond DynamoDB's range"),
    ("test_bad_sets_and_values", "-attr2-",
     "accepts an empty BS and duplicate members in SS, NS and BS"),
    ("test_bad_sets_and_values", "-attr3-",
     "accepts an empty BS and duplicate members in SS, NS and BS"),
    ("test_bad_sets_and_values", "-attr4-",
     "accepts an empty BS and duplicate members in SS, NS and BS"),
    ("test_bad_sets_and_values", "-attr5-",
     "accepts an empty BS and duplicate members in SS, NS and BS"),
    ("test_key_errors", "",
     "GetItem with a key lacking the sort key fails with the message 'Validation Exception', not 'The "
     "provided key element does not match the schema'"),
    ("test_item_size_limit", "",
     "sizes items differently: an item of exactly 400 KB (names + values) is rejected"),
    ("test_nesting_limit", "",
     "does not enforce the 32-level nesting limit"),
    ("test_create_describe_delete", "",
     "DeleteTable answers TableStatus ACTIVE, not DELETING"),
    ("test_create_table_validation", "-overrides2-",
     "accepts a KeySchema whose first element is the RANGE key"),
    ("test_list_tables_pagination", "",
     "ListTables returns table names in creation order, not sorted"),
    ("test_batch_write_limits_and_duplicates", "",
     "accepts 26 requests in one BatchWriteItem and a Put and a Delete of one key, and writes a batch's "
     "good items before failing on a bad one"),
    ("test_transact_write_all_kinds", "",
     "TransactGetItems ignores ProjectionExpression"),
    ("test_two_actions_on_one_item_rejected", "",
     "TransactGetItems accepts two Gets of one item"),
    ("test_idempotency_token", "",
     "ignores ClientRequestToken: a repeated TransactWriteItems is applied twice"),
    ("test_update_errors", "-kwargs6-",
     "an undefined #name in an UpdateExpression crashes moto (HTTP 500, KeyError)"),
    ("test_update_errors", "-kwargs9-",
     "ADD with a string operand: 'An operand in the update expression has an incorrect data type', without"
     " the operator DynamoDB names"),
    ("test_batch_get_key_of_wrong_type", "",
     "accepts a BatchGetItem key of the wrong type (and finds nothing)"),
    ("test_query_errors", "-kwargs1-",
     "accepts a key condition value of the wrong type (and finds nothing)"),
    ("test_query_errors", "-kwargs2-",
     "a FilterExpression on a key attribute crashes moto (HTTP 500)"),
    ("test_query_errors", "-kwargs5-",
     "an unknown IndexName is ResourceNotFoundException 'Invalid index: ...', not a ValidationException"),
    ("test_legacy_parameters", "",
     "Query ignores AttributesToGet"),
    ("test_lsi_query_and_fetch_all_attributes", "",
     "a Query of a KEYS_ONLY local index with Select=ALL_ATTRIBUTES does not fetch the other attributes "
     "from the table"),
    ("test_index_scan_and_errors", "",
     "an unknown IndexName is ResourceNotFoundException 'Invalid index: ...', not 'The table does not have"
     " the specified index'"),
    ("test_create_table_index_validation", "-change0-",
     "accepts a local index whose hash key is not the table's"),
    ("test_create_table_index_validation", "-change2-",
     "accepts ProjectionType INCLUDE without NonKeyAttributes"),
    ("test_create_table_index_validation", "-change3-",
     "accepts two indexes with the same name"),
    ("test_add_index_backfills_and_follows_writes", "",
     "adds a global secondary index ACTIVE at once, without a CREATING (backfilling) phase"),
    ("test_update_table_and_deletion_protection", "",
     "accepts an UpdateTable that changes nothing"),
    ("test_empty_attribute_name_is_rejected", "",
     "accepts an empty attribute name (in Item, AttributeUpdates, AttributesToGet, Expected, ScanFilter and "
     "ExpressionAttributeNames) and stores or evaluates it"),
    ("test_restore_keeps_indexes_and_applies_overrides", "",
     "DescribeBackup has no SourceTableFeatureDetails (the source's indexes, stream, TTL)"),
    ("test_list_filters_and_pages", "",
     "ListBackups ignores Limit and ExclusiveStartBackupArn"),
    ("test_restore_to_a_time_under_writes", "",
     "RestoreTableToPointInTime copies the table as it is now, whatever RestoreDateTime says"),
    ("test_settings_round_trip", "",
     "DescribeContinuousBackups keeps RecoveryPeriodInDays and the restorable times out"),
    ("test_consumed_capacity", "",
     "does not size ConsumedCapacity by the item: a 5 KB PutItem is 1 unit (5 in DynamoDB), its consistent"
     " GetItem 0.5 (2)"),
    ("test_transaction_with_token_reports_capacity", "",
     "answers TransactWriteItems with an empty ConsumedCapacity list, also when it was not asked for"),
    ("test_a_replayed_transaction_reports_reading_its_items", "",
     "answers TransactWriteItems with an empty ConsumedCapacity list, also when it was not asked for"),
]
# Also moto's, but hidden by the cache, so not marked: moto stores numbers as sent ('1.0' stays '1.0', '1.50'
# and '1.5' are different keys) while the cache writes items through in DynamoDB's canonical form and answers
# the suite's reads; moto has no 16 MB BatchGetItem response limit, which the cache applies to what it serves.

# Cases that are not moto's fault, reported to the suite's owners: the suite expects a message DynamoDB does
# not send (moto sends DynamoDB's), or the request has two faults and moto names the other one.
# (test name, id fragment, full reason)
SUITE_DIFFERENCES: list[tuple[str, str, str]] = [
]


def _reason(item: pytest.Item) -> str | None:
    name = getattr(item, "originalname", item.name)
    ident = "-" + item.name.partition("[")[2].rstrip("]") + "-"  # e.g. "-dynamodb-upstream-1.0-1-"
    for test, fragment, what in MOTO_DIFFERENCES:
        if test == name and fragment in ident:
            return f"moto differs: {what}"
    for test, fragment, reason in SUITE_DIFFERENCES:
        if test == name and fragment in ident:
            return reason
    return None


def mark_moto_differences(items: list[pytest.Item]) -> None:
    """Mark the cases above xfail where they run against the dynamodb-upstream server."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or callspec.params.get("server") != UPSTREAM_PARAM:
            continue
        if item.module is not None and item.module.__name__.rsplit(".", 1)[-1].startswith("test_conformance_"):
            # These pin the engine's answers to DynamoDB's exact messages and limits; through the upstream
            # backend the answer is the upstream's own (moto's here), passed through unchanged.
            item.add_marker(pytest.mark.skip(reason="engine conformance checks: the dynamodb-upstream backend "
                                                    "answers with the upstream's own errors (moto here)"))
            continue
        reason = _reason(item)
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
