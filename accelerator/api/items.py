"""Single-item operations: GetItem, PutItem, DeleteItem, UpdateItem."""

from __future__ import annotations

from typing import Any

from accelerator.api.common import (
    ATTRIBUTE_UPDATES,
    ATTRIBUTES_TO_GET,
    CONDITIONAL_OPERATOR,
    CONSISTENT,
    CONSUMED,
    EXPECTED,
    EXPRESSION,
    ITEM,
    KEY,
    METRICS,
    NAMES,
    ON_FAILURE,
    PROJECTION,
    RETURN_VALUES,
    VALUES,
)
from accelerator.api.shapes import Shape, table_name
from accelerator.core.errors import ValidationException

__all__ = ["SHAPES"]


def _return_values(allowed: tuple[str, ...]) -> Any:
    def check(body: dict[str, Any]) -> None:
        value = body.get("ReturnValues")
        if value is not None and value not in allowed:
            raise ValidationException("Return values set to invalid value")
    return check


GET_ITEM = Shape({
    "TableName": table_name(), "Key": KEY, "AttributesToGet": ATTRIBUTES_TO_GET, "ConsistentRead": CONSISTENT,
    "ReturnConsumedCapacity": CONSUMED, "ProjectionExpression": PROJECTION, "ExpressionAttributeNames": NAMES,
})

_WRITE = {
    "TableName": table_name(), "Expected": EXPECTED, "ReturnValues": RETURN_VALUES,
    "ReturnConsumedCapacity": CONSUMED, "ReturnItemCollectionMetrics": METRICS,
    "ConditionalOperator": CONDITIONAL_OPERATOR, "ConditionExpression": EXPRESSION,
    "ExpressionAttributeNames": NAMES, "ExpressionAttributeValues": VALUES,
    "ReturnValuesOnConditionCheckFailure": ON_FAILURE,
}

PUT_ITEM = Shape({**_WRITE, "Item": ITEM}, _return_values(("NONE", "ALL_OLD")))
DELETE_ITEM = Shape({**_WRITE, "Key": KEY}, _return_values(("NONE", "ALL_OLD")))
UPDATE_ITEM = Shape({**_WRITE, "Key": KEY, "AttributeUpdates": ATTRIBUTE_UPDATES, "UpdateExpression": EXPRESSION})

SHAPES = {"GetItem": GET_ITEM, "PutItem": PUT_ITEM, "DeleteItem": DELETE_ITEM, "UpdateItem": UPDATE_ITEM}
