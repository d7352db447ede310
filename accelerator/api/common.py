"""Fields shared by several operations' shapes."""

from __future__ import annotations

from accelerator.api.shapes import ANY, BOOL, LIST, MAP, STR, Field, Shape, enum

__all__ = ["NAMES", "VALUES", "PROJECTION", "CONSUMED", "METRICS", "RETURN_VALUES", "ON_FAILURE", "KEY", "ITEM",
           "ATTRIBUTES_TO_GET", "CONSISTENT", "EXPRESSION", "CONDITIONAL_OPERATOR", "CONDITIONS", "EXPECTED",
           "ATTRIBUTE_UPDATES"]

NAMES = Field(MAP, values=Field(STR, required=True))
VALUES = Field(MAP, values=Field(ANY))
PROJECTION = Field(STR)
EXPRESSION = Field(STR)
CONSISTENT = Field(BOOL)
KEY = Field(MAP, required=True)
ITEM = Field(MAP, required=True)
ATTRIBUTES_TO_GET = Field(LIST, min_len=1, items=Field(STR))
CONSUMED = enum("INDEXES", "TOTAL", "NONE")
METRICS = enum("SIZE", "NONE")
RETURN_VALUES = enum("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW")
ON_FAILURE = enum("ALL_OLD", "NONE")
CONDITIONAL_OPERATOR = enum("AND", "OR")
# The legacy parameters are maps of attribute name to a structure; a null entry is an empty structure.
# Attribute values inside them (Value, AttributeValueList members) are checked where they are used.
CONDITIONS = Field(MAP, values=Field(MAP, shape=Shape({"ComparisonOperator": Field(STR),
                                                       "AttributeValueList": Field(LIST)})))
"""KeyConditions, QueryFilter, ScanFilter."""
EXPECTED = Field(MAP, values=Field(MAP, shape=Shape({"Exists": Field(BOOL), "ComparisonOperator": Field(STR),
                                                     "AttributeValueList": Field(LIST)})))
ATTRIBUTE_UPDATES = Field(MAP, values=Field(MAP, shape=Shape({"Action": Field(STR)})))
