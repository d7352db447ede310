"""Projection: nested maps and list elements keep the item's shape; overlap and conflict errors."""

from __future__ import annotations

from typing import Any

import pytest

from accelerator.core.errors import ValidationException
from accelerator.expressions import ExpressionContext, bind, parse_projection, project, project_paths

ITEM: dict[str, Any] = {
    "pk": {"S": "k"},
    "a": {"M": {"b": {"N": "1"}, "c": {"L": [{"S": "c0"}, {"M": {"x": {"S": "x1"}, "y": {"S": "y1"}}}, {"S": "c2"}]},
                "e": {"M": {}}}},
    "l": {"L": [{"S": "w"}, {"S": "x"}, {"S": "y"}, {"S": "z"}]},
    "s": {"S": "str"},
}


def proj(text: str, names: dict[str, str] | None = None, item: dict[str, Any] | None = ITEM) -> dict[str, Any]:
    ctx = ExpressionContext(names, None)
    out = project(parse_projection(text), item, ctx)
    ctx.check_unused()
    return out


def test_top_level_attributes():
    assert proj("pk, s, absent") == {"pk": ITEM["pk"], "s": ITEM["s"]}
    assert proj("#k", {"#k": "pk"}) == {"pk": ITEM["pk"]}


def test_nested_map_paths_keep_shape():
    assert proj("a.b") == {"a": {"M": {"b": {"N": "1"}}}}
    assert proj("a.b, a.e") == {"a": {"M": {"b": {"N": "1"}, "e": {"M": {}}}}}
    assert proj("a.nope") == {}
    assert proj("s.nope, l.nope, a[0]") == {}


def test_list_elements_compacted_in_index_order():
    assert proj("l[3], l[1]") == {"l": {"L": [{"S": "x"}, {"S": "z"}]}}
    assert proj("l[9]") == {}
    assert proj("l[2], l[7]") == {"l": {"L": [{"S": "y"}]}}


def test_paths_through_lists_and_maps():
    assert proj("a.c[1].y, a.c[1].x, a.c[0]") == {
        "a": {"M": {"c": {"L": [{"S": "c0"}, {"M": {"y": {"S": "y1"}, "x": {"S": "x1"}}}]}}}
    }
    assert proj("a.c[2].x") == {}


def test_missing_item_projects_to_nothing():
    assert proj("a, b", item=None) == {}
    assert proj("a.b", item={}) == {}


def test_projection_shares_values():
    assert proj("a")["a"] is ITEM["a"]


@pytest.mark.parametrize(
    ("text", "first", "second"),
    [("a, a", "[a]", "[a]"), ("a.b, a", "[a, b]", "[a]"), ("a, a.c[1]", "[a]", "[a, c, [1]]"),
     ("l[1], l[1]", "[l, [1]]", "[l, [1]]"), ("#x, a.b", "[a]", "[a, b]")],
)
def test_overlapping_paths(text, first, second):
    with pytest.raises(ValidationException) as info:
        proj(text, {"#x": "a"} if "#x" in text else None)
    assert info.value.message == (
        "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one of these "
        f"paths; path one: {first}, path two: {second}"
    )


def test_conflicting_paths():
    with pytest.raises(ValidationException) as info:
        proj("a.b, a[0]")
    assert info.value.message == (
        "Invalid ProjectionExpression: Two document paths conflict with each other; must remove or rewrite one of "
        "these paths; path one: [a, b], path two: [a, [0]]"
    )


def test_undefined_name_and_custom_kind():
    with pytest.raises(ValidationException) as info:
        bind(parse_projection("#x"), ExpressionContext(), "ProjectionExpression")
    assert info.value.message == (
        "Invalid ProjectionExpression: An expression attribute name used in the document path is not defined; "
        "attribute name: #x"
    )


def test_project_paths_helper():
    assert project_paths(ITEM, [("a", "c", 1, "x"), ("s",)]) == {
        "a": {"M": {"c": {"L": [{"M": {"x": {"S": "x1"}}}]}}}, "s": {"S": "str"},
    }
    assert project_paths(ITEM, []) == {}
    assert project_paths(None, [("s",)]) == {}
