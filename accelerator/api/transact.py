"""TransactGetItems and TransactWriteItems."""

from __future__ import annotations

from accelerator.api.common import CONSUMED, EXPRESSION, METRICS, NAMES, ON_FAILURE, PROJECTION, VALUES
from accelerator.api.shapes import LIST, MAP, STR, Field, Shape, table_name

__all__ = ["SHAPES"]

# Members of each action are checked here, so a bad enum or a non-string name fails the whole request
# (ValidationException, SerializationException) as DynamoDB does, not one action's cancellation reason.
_GET = Field(MAP, shape=Shape({"TableName": table_name(), "Key": Field(MAP, required=True), "ProjectionExpression": PROJECTION,
                               "ExpressionAttributeNames": NAMES}))
_WRITE_COMMON = {"TableName": table_name(), "ConditionExpression": EXPRESSION, "ExpressionAttributeNames": NAMES,
                 "ExpressionAttributeValues": VALUES, "ReturnValuesOnConditionCheckFailure": ON_FAILURE}
_WRITE_ITEM = Field(MAP, shape=Shape({
    "Put": Field(MAP, shape=Shape({**_WRITE_COMMON, "Item": Field(MAP, required=True)})),
    "Update": Field(MAP, shape=Shape({**_WRITE_COMMON, "Key": Field(MAP, required=True), "UpdateExpression": EXPRESSION})),
    "Delete": Field(MAP, shape=Shape({**_WRITE_COMMON, "Key": Field(MAP, required=True)})),
    "ConditionCheck": Field(MAP, shape=Shape({**_WRITE_COMMON, "Key": Field(MAP, required=True)})),
}))

TRANSACT_GET = Shape({"TransactItems": Field(LIST, required=True, min_len=1, max_len=100,
                                             items=Field(MAP, shape=Shape({"Get": _GET}))),
                      "ReturnConsumedCapacity": CONSUMED})
TRANSACT_WRITE = Shape({
    "TransactItems": Field(LIST, required=True, min_len=1, max_len=100, items=_WRITE_ITEM),
    "ReturnConsumedCapacity": CONSUMED, "ReturnItemCollectionMetrics": METRICS,
    "ClientRequestToken": Field(STR, min_len=1, max_len=36),
})

SHAPES = {"TransactGetItems": TRANSACT_GET, "TransactWriteItems": TRANSACT_WRITE}
