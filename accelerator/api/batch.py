"""BatchGetItem and BatchWriteItem."""

from __future__ import annotations

from accelerator.api.common import CONSUMED, METRICS
from accelerator.api.shapes import LIST, MAP, Field, Shape

__all__ = ["SHAPES"]

BATCH_GET = Shape({"RequestItems": Field(MAP, required=True, min_len=1, values=Field(MAP)),
                   "ReturnConsumedCapacity": CONSUMED})
BATCH_WRITE = Shape({"RequestItems": Field(MAP, required=True, min_len=1, values=Field(LIST)),
                     "ReturnConsumedCapacity": CONSUMED, "ReturnItemCollectionMetrics": METRICS})

SHAPES = {"BatchGetItem": BATCH_GET, "BatchWriteItem": BATCH_WRITE}
