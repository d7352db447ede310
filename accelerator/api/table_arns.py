"""A table's ARN where a request names a table: DynamoDB takes either in TableName.

Requests are rewritten to the table's name before anything else looks at them (shape checks, policies, the
cache, the store), so an ARN and a name reach the same table by the same path. Only the ARN of a table, in
this ARN form, is resolved; anything else starting with ``arn:`` stays as sent and meets the name check.
Batch requests, whose responses are keyed by what the caller sent, keep their keys.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["names_for_table_arns"]

_TABLE_ARN = re.compile(r"arn:aws:dynamodb:[a-z0-9-]+:[0-9]{12}:table/([a-zA-Z0-9_.-]{3,255})\Z")


def _name(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("arn:"):
        match = _TABLE_ARN.match(value)
        if match is not None:
            return match.group(1)
    return value


def names_for_table_arns(request: Any) -> None:
    """Replace, in place, a table ARN in TableName and in each TransactItems action by the table's name."""
    if not isinstance(request, dict):
        return
    if "TableName" in request:
        request["TableName"] = _name(request["TableName"])
    items = request.get("TransactItems")
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict):
                for action in item.values():
                    if isinstance(action, dict) and "TableName" in action:
                        action["TableName"] = _name(action["TableName"])
