"""Control plane: CreateTable, DescribeTable, ListTables, DeleteTable and the TTL settings."""

from __future__ import annotations

import re
from typing import Any

from accelerator.api.shapes import BOOL, INT, LIST, MAP, STR, Field, Shape, enum, table_name
from accelerator.core.errors import ValidationException

__all__ = ["SHAPES"]

_KEY_ELEMENT = Field(MAP, shape=Shape({"AttributeName": Field(STR, required=True, min_len=1, max_len=255),
                                       "KeyType": enum("HASH", "RANGE", required=True)}))
_ATTR_DEF = Field(MAP, shape=Shape({"AttributeName": Field(STR, required=True, min_len=1, max_len=255),
                                    "AttributeType": enum("S", "N", "B", required=True)}))
_THROUGHPUT = Field(MAP, shape=Shape({"ReadCapacityUnits": Field(INT, required=True, minimum=1),
                                      "WriteCapacityUnits": Field(INT, required=True, minimum=1)}))

# Index definitions: member types here; their rules (key shape, projection kinds) are the engine's, which
# words them as DynamoDB does.
_PROJECTION = Field(MAP, shape=Shape({"ProjectionType": Field(STR), "NonKeyAttributes": Field(
    LIST, min_len=1, items=Field(STR), element_len=(1, 255))}))
_INDEX_NAME = Field(STR, min_len=3, max_len=255, pattern=re.compile(r"[a-zA-Z0-9_.-]+\Z"))
_INDEX_KEY = Field(LIST, items=_KEY_ELEMENT)
# An LSI keeps DynamoDB's two-element KeySchema (multi-attribute keys are for GSIs only), so a third element is
# the shape layer's "length less than or equal to 2", as AWS answers it.
_LSI = Field(MAP, shape=Shape({"IndexName": _INDEX_NAME, "KeySchema": Field(LIST, max_len=2, items=_KEY_ELEMENT),
                               "Projection": _PROJECTION}))
_GSI = Field(MAP, shape=Shape({"IndexName": _INDEX_NAME, "KeySchema": _INDEX_KEY, "Projection": _PROJECTION,
                               "ProvisionedThroughput": _THROUGHPUT}))
_GSI_UPDATE = Field(MAP, shape=Shape({
    "Create": _GSI,
    "Update": Field(MAP, shape=Shape({"IndexName": _INDEX_NAME, "ProvisionedThroughput": _THROUGHPUT})),
    "Delete": Field(MAP, shape=Shape({"IndexName": _INDEX_NAME})),
}))

_STREAM_SPEC = Field(MAP, shape=Shape({
    "StreamEnabled": Field(BOOL, required=True),
    "StreamViewType": enum("NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"),
}))

# AWS's tag pattern is [\p{L}\p{Z}\p{N}_.:/=+\-@]*: letters, separators, digits and a few signs.
_TAG_TEXT = re.compile(r"[\w\s.:/=+\-@]*\Z")
_TAG = Field(MAP, shape=Shape({"Key": Field(STR, required=True, min_len=1, max_len=128, pattern=_TAG_TEXT),
                               "Value": Field(STR, required=True, max_len=256, pattern=_TAG_TEXT)}))

_TABLE_CLASSES = ("STANDARD", "STANDARD_INFREQUENT_ACCESS")


def _check_table_class(body: dict[str, Any]) -> None:
    """DynamoDB words a bad TableClass its own way, not as an enum constraint."""
    if "TableClass" in body and body["TableClass"] not in _TABLE_CLASSES:
        raise ValidationException("Invalid table-class parameter provided. Please try again with a valid "
                                  f"table-class value: [{', '.join(_TABLE_CLASSES)}].")


CREATE_TABLE = Shape({
    "TableName": table_name(),
    "KeySchema": Field(LIST, required=True, min_len=1, max_len=2, items=_KEY_ELEMENT),
    "AttributeDefinitions": Field(LIST, required=True, items=_ATTR_DEF),
    "BillingMode": enum("PROVISIONED", "PAY_PER_REQUEST"),
    "ProvisionedThroughput": _THROUGHPUT,
    "LocalSecondaryIndexes": Field(LIST, items=_LSI), "GlobalSecondaryIndexes": Field(LIST, items=_GSI),
    "StreamSpecification": _STREAM_SPEC, "SSESpecification": Field(MAP), "Tags": Field(LIST, items=_TAG),
    "TableClass": Field(STR), "DeletionProtectionEnabled": Field(BOOL),
}, _check_table_class)
DESCRIBE_TABLE = Shape({"TableName": table_name()})
DELETE_TABLE = Shape({"TableName": table_name()})
LIST_TABLES = Shape({"ExclusiveStartTableName": Field(STR, min_len=3, max_len=255),
                     "Limit": Field(INT, minimum=1, maximum=100)})
UPDATE_TTL = Shape({"TableName": table_name(), "TimeToLiveSpecification": Field(MAP, required=True, shape=Shape({
    "Enabled": Field(BOOL, required=True), "AttributeName": Field(STR, required=True, min_len=1, max_len=255)}))})
DESCRIBE_TTL = Shape({"TableName": table_name()})

UPDATE_TABLE = Shape({
    "TableName": table_name(), "AttributeDefinitions": Field(LIST, items=_ATTR_DEF),
    "BillingMode": enum("PROVISIONED", "PAY_PER_REQUEST"), "ProvisionedThroughput": _THROUGHPUT,
    "GlobalSecondaryIndexUpdates": Field(LIST, items=_GSI_UPDATE), "StreamSpecification": _STREAM_SPEC, "SSESpecification": Field(MAP),
    "TableClass": Field(STR), "DeletionProtectionEnabled": Field(BOOL),
}, _check_table_class)
_ARN = Field(STR, required=True, min_len=1, max_len=1283)
TAG_RESOURCE = Shape({"ResourceArn": _ARN, "Tags": Field(LIST, required=True, min_len=1, items=_TAG)})
UNTAG_RESOURCE = Shape({"ResourceArn": _ARN, "TagKeys": Field(LIST, required=True, min_len=1,
                                                              items=Field(STR, min_len=1, max_len=128))})
LIST_TAGS = Shape({"ResourceArn": _ARN, "NextToken": Field(STR)})
DESCRIBE_LIMITS = Shape({})

SHAPES = {"CreateTable": CREATE_TABLE, "DescribeTable": DESCRIBE_TABLE, "DeleteTable": DELETE_TABLE,
          "ListTables": LIST_TABLES, "UpdateTimeToLive": UPDATE_TTL, "DescribeTimeToLive": DESCRIBE_TTL,
          "UpdateTable": UPDATE_TABLE, "TagResource": TAG_RESOURCE, "UntagResource": UNTAG_RESOURCE,
          "ListTagsOfResource": LIST_TAGS, "DescribeLimits": DESCRIBE_LIMITS}
