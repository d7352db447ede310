"""TransactGetItems and TransactWriteItems."""

from __future__ import annotations

from accelerator.api.common import CONSUMED, METRICS
from accelerator.api.shapes import LIST, MAP, STR, Field, Shape

__all__ = ["SHAPES"]

TRANSACT_GET = Shape({"TransactItems": Field(LIST, required=True, min_len=1, max_len=100, items=Field(MAP)),
                      "ReturnConsumedCapacity": CONSUMED})
TRANSACT_WRITE = Shape({
    "TransactItems": Field(LIST, required=True, min_len=1, max_len=100, items=Field(MAP)),
    "ReturnConsumedCapacity": CONSUMED, "ReturnItemCollectionMetrics": METRICS,
    "ClientRequestToken": Field(STR, min_len=1, max_len=36),
})

SHAPES = {"TransactGetItems": TRANSACT_GET, "TransactWriteItems": TRANSACT_WRITE}
