"""DynamoDB conformance of tagging: TagResource and UntagResource answer with no body, index ARNs are refused."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.server_process import ServerProcess


def _post(url: str, op: str, request: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.request("POST", "/", body=json.dumps(request).encode(),
                     headers={"X-Amz-Target": "DynamoDB_20120810." + op, "Content-Type": "application/x-amz-json-1.0"})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_tag_and_untag_answer_an_empty_body(server: ServerProcess, ddb: Any, table: str) -> None:
    arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    status, headers, body = _post(server.url, "TagResource", {"ResourceArn": arn, "Tags": [{"Key": "k", "Value": "v"}]})
    assert (status, body, headers["content-length"]) == (200, b"", "0")
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "k", "Value": "v"}]
    status, headers, body = _post(server.url, "UntagResource", {"ResourceArn": arn, "TagKeys": ["k"]})
    assert (status, body, headers["content-length"]) == (200, b"", "0")
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == []
    # a refusal still carries its error body
    status, _, body = _post(server.url, "TagResource", {"ResourceArn": arn, "Tags": [{"Key": "aws:x", "Value": "v"}]})
    assert status == 400 and json.loads(body)["__type"].endswith("#ValidationException")


def test_index_arn_cannot_be_tagged(ddb: Any, indexed: str) -> None:
    desc = ddb.describe_table(TableName=indexed)["Table"]
    arns = [desc["GlobalSecondaryIndexes"][0]["IndexArn"], desc["LocalSecondaryIndexes"][0]["IndexArn"]]
    for arn in arns:
        calls = [(ddb.tag_resource, {"Tags": [{"Key": "k", "Value": "v"}]}), (ddb.untag_resource, {"TagKeys": ["k"]}),
                 (ddb.list_tags_of_resource, {})]
        for call, kwargs in calls:
            with pytest.raises(ClientError) as exc:
                call(ResourceArn=arn, **kwargs)
            assert exc.value.response["Error"] == {
                "Code": "ValidationException",
                "Message": "One or more parameter values were invalid: Invalid resource arn provided, only table or "
                           f"stream is accepted. Provided resource arn: {arn}"}
    assert ddb.list_tags_of_resource(ResourceArn=desc["TableArn"])["Tags"] == []  # the table got none of them
