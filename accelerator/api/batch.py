"""BatchGetItem and BatchWriteItem."""

from __future__ import annotations

from accelerator.api.common import ATTRIBUTES_TO_GET, CONSISTENT, CONSUMED, METRICS, NAMES, PROJECTION
from accelerator.api.shapes import LIST, MAP, Field, Shape

__all__ = ["SHAPES"]

_KEYS_AND_ATTRIBUTES = Field(MAP, required=True, shape=Shape({
    "Keys": Field(LIST, items=Field(MAP)), "AttributesToGet": ATTRIBUTES_TO_GET, "ConsistentRead": CONSISTENT,
    "ProjectionExpression": PROJECTION, "ExpressionAttributeNames": NAMES}))
BATCH_GET = Shape({"RequestItems": Field(MAP, required=True, min_len=1, values=_KEYS_AND_ATTRIBUTES),
                   "ReturnConsumedCapacity": CONSUMED})
BATCH_WRITE = Shape({"RequestItems": Field(MAP, required=True, min_len=1, values=Field(LIST, required=True)),
                     "ReturnConsumedCapacity": CONSUMED, "ReturnItemCollectionMetrics": METRICS})

SHAPES = {"BatchGetItem": BATCH_GET, "BatchWriteItem": BATCH_WRITE}
