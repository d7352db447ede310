"""Fields shared by several operations' shapes."""

from __future__ import annotations

from accelerator.api.shapes import ANY, BOOL, LIST, MAP, STR, Field, enum

__all__ = ["NAMES", "VALUES", "PROJECTION", "CONSUMED", "METRICS", "RETURN_VALUES", "ON_FAILURE", "KEY", "ITEM",
           "ATTRIBUTES_TO_GET", "CONSISTENT", "EXPRESSION", "CONDITIONAL_OPERATOR", "LEGACY_MAP"]

NAMES = Field(MAP, values=Field(STR))
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
LEGACY_MAP = Field(MAP)
