"""DynamoDB's expression language: parse once per text, bind once per request, evaluate per item.

    text ──parse_*()──▶ tree (cached by text) ──ExpressionContext.bind_*()──▶ bound closures ──▶ evaluate /
                                                                                               project /
                                                                                               apply_update

- Conditions (ConditionExpression, FilterExpression, KeyConditionExpression): ``parse_condition``,
  ``evaluate``; key conditions become a key range with ``analyze_key_condition``.
- ProjectionExpression: ``parse_projection``, ``project``.
- UpdateExpression: ``parse_update``, ``apply_update`` (never mutates the item), ``updated_attributes``
  for ReturnValues UPDATED_OLD / UPDATED_NEW.
- Legacy parameters (Expected, QueryFilter, ScanFilter, AttributesToGet, AttributeUpdates, KeyConditions)
  convert to the same trees; ``check_parameter_mix`` rejects requests that mix both styles.

Everything raises accelerator.core.errors.ValidationException with DynamoDB's messages. Only
accelerator.core is imported.
"""

from accelerator.expressions.api import (
    MAX_EXPRESSION_BYTES,
    PARSE_CACHE_SIZE,
    ParseCacheInfo,
    apply_update,
    bind,
    evaluate,
    parse_cache_clear,
    parse_cache_info,
    parse_condition,
    parse_filter,
    parse_key_condition,
    parse_projection,
    parse_update,
    project,
)
from accelerator.expressions.conditions import BoundCondition
from accelerator.expressions.context import ExpressionContext
from accelerator.expressions.keyconditions import KeyCondition, analyze_key_condition, analyze_key_conditions
from accelerator.expressions.legacy import (
    OPERATION_PARAMETERS,
    check_parameter_mix,
    legacy_condition,
    legacy_filter,
    legacy_projection,
    legacy_update,
)
from accelerator.expressions.projection import BoundProjection, project_paths
from accelerator.expressions.reserved import RESERVED_WORDS, is_reserved
from accelerator.expressions.tree import Condition, Projection, Update
from accelerator.expressions.updates import BoundUpdate, check_key_not_updated, updated_attributes

__all__ = [
    "MAX_EXPRESSION_BYTES",
    "PARSE_CACHE_SIZE",
    "OPERATION_PARAMETERS",
    "RESERVED_WORDS",
    "BoundCondition",
    "BoundProjection",
    "BoundUpdate",
    "Condition",
    "ExpressionContext",
    "KeyCondition",
    "ParseCacheInfo",
    "Projection",
    "Update",
    "analyze_key_condition",
    "analyze_key_conditions",
    "apply_update",
    "bind",
    "check_key_not_updated",
    "check_parameter_mix",
    "evaluate",
    "is_reserved",
    "legacy_condition",
    "legacy_filter",
    "legacy_projection",
    "legacy_update",
    "parse_cache_clear",
    "parse_cache_info",
    "parse_condition",
    "parse_filter",
    "parse_key_condition",
    "parse_projection",
    "parse_update",
    "project",
    "project_paths",
    "updated_attributes",
]
