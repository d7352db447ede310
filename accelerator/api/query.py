"""Query and Scan."""

from __future__ import annotations

from typing import Any

from accelerator.api.common import (
    ATTRIBUTES_TO_GET,
    CONDITIONAL_OPERATOR,
    CONDITIONS,
    CONSISTENT,
    CONSUMED,
    EXPRESSION,
    NAMES,
    PROJECTION,
    VALUES,
)
from accelerator.api.shapes import BOOL, INT, MAP, STR, Field, Shape, enum, table_name
from accelerator.core.errors import ValidationException

__all__ = ["SHAPES"]

_SELECT = enum("ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES", "SPECIFIC_ATTRIBUTES", "COUNT")
_COMMON = {
    "TableName": table_name(), "IndexName": Field(STR, min_len=3, max_len=255), "Select": _SELECT,
    "AttributesToGet": ATTRIBUTES_TO_GET, "Limit": Field(INT, minimum=1), "ConsistentRead": CONSISTENT,
    "ConditionalOperator": CONDITIONAL_OPERATOR, "ExclusiveStartKey": Field(MAP),
    "ReturnConsumedCapacity": CONSUMED, "ProjectionExpression": PROJECTION, "FilterExpression": EXPRESSION,
    "ExpressionAttributeNames": NAMES, "ExpressionAttributeValues": VALUES,
}


def _check_scan(body: dict[str, Any]) -> None:
    segment, total = body.get("Segment"), body.get("TotalSegments")
    if (segment is None) != (total is None):
        missing = "TotalSegments" if total is None else "Segment"
        raise ValidationException(
            f"The {missing} parameter is required but was not present in the request when parameter "
            f"{'Segment' if total is None else 'TotalSegments'} is present")
    if segment is not None and segment >= total:
        raise ValidationException(
            f"The Segment parameter is zero-based and must be less than parameter TotalSegments: "
            f"Segment: {segment} is not less than TotalSegments: {total}")


QUERY = Shape({
    **_COMMON, "KeyConditions": CONDITIONS, "QueryFilter": CONDITIONS, "ScanIndexForward": Field(BOOL),
    "KeyConditionExpression": EXPRESSION,
})
SCAN = Shape({
    **_COMMON, "ScanFilter": CONDITIONS, "TotalSegments": Field(INT, minimum=1, maximum=1000000),
    "Segment": Field(INT, minimum=0, maximum=999999),
}, _check_scan)

SHAPES = {"Query": QUERY, "Scan": SCAN}
