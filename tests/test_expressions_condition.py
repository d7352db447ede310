"""Condition evaluation: every comparator and function, DynamoDB's type rules, binding errors, the context."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from accelerator.core.errors import ValidationException
from accelerator.expressions import (
    BoundCondition,
    ExpressionContext,
    bind,
    evaluate,
    parse_condition,
    parse_filter,
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


ITEM: dict[str, Any] = {
    "pk": {"S": "p1"},
    "s": {"S": "hello"},
    "n": {"N": "10"},
    "neg": {"N": "-2.5"},
    "b": {"B": b64(b"\x00\x01\xff")},
    "t": {"BOOL": True},
    "nul": {"NULL": True},
    "ss": {"SS": ["red", "green"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b64(b"\x01"), b64(b"\x02\x03")]},
    "l": {"L": [{"S": "x"}, {"N": "3"}, {"M": {"k": {"S": "v"}}}, {"L": []}]},
    "m": {"M": {"a": {"N": "1"}, "deep": {"M": {"lst": {"L": [{"S": "q"}, {"S": "r"}]}}}, "dot.name": {"S": "d"}}},
    "emoji": {"S": "é\U0001d11e"},
}


def check(text: str, values: dict[str, Any] | None = None, names: dict[str, str] | None = None,
          item: dict[str, Any] | None = ITEM) -> bool:
    ctx = ExpressionContext(names, values)
    result = evaluate(parse_condition(text), item, ctx)
    ctx.check_unused()
    return result


def error(text: str, values: dict[str, Any] | None = None, names: dict[str, str] | None = None) -> str:
    with pytest.raises(ValidationException) as info:
        check(text, values, names)
    return info.value.message


S = lambda v: {"S": v}  # noqa: E731
N = lambda v: {"N": v}  # noqa: E731
B = lambda v: {"B": b64(v)}  # noqa: E731


# -- comparisons ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("s = :v", S("hello"), True), ("s = :v", S("hell"), False), ("s = :v", N("1"), False),
        ("n = :v", N("10"), True), ("n = :v", N("10.0"), True), ("n = :v", N("1E1"), True), ("n = :v", S("10"), False),
        ("b = :v", B(b"\x00\x01\xff"), True), ("b = :v", B(b"\x00"), False),
        ("t = :v", {"BOOL": True}, True), ("t = :v", {"BOOL": False}, False),
        ("nul = :v", {"NULL": True}, True),
        ("ss = :v", {"SS": ["green", "red"]}, True), ("ss = :v", {"SS": ["green"]}, False),
        ("ns = :v", {"NS": ["2.50", "1"]}, True), ("bs = :v", {"BS": [b64(b"\x02\x03"), b64(b"\x01")]}, True),
        ("l = :v", {"L": [S("x"), N("3"), {"M": {"k": S("v")}}, {"L": []}]}, True),
        ("l = :v", {"L": [N("3"), S("x"), {"M": {"k": S("v")}}, {"L": []}]}, False),
        ("m.deep = :v", {"M": {"lst": {"L": [S("q"), S("r")]}}}, True),
        ("absent = :v", S("x"), False),
        ("s <> :v", S("hello"), False), ("s <> :v", S("x"), True), ("s <> :v", N("1"), True),
        ("absent <> :v", S("x"), True),
    ],
)
def test_equality(text, value, expected):
    assert check(text, {":v": value}) is expected


def test_two_missing_attributes_are_neither_equal_nor_unequal_to_nothing():
    assert check("q = z") is False
    assert check("q <> z") is True


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("n < :v", N("9"), False), ("n > :v", N("9"), True), ("n >= :v", N("10"), True), ("n <= :v", N("9.99"), False),
        ("neg < :v", N("-2.4"), True), ("neg > :v", N("-3"), True), ("n > :v", N("-1E+2"), True),
        ("s < :v", S("help"), True), ("s > :v", S("Hello"), True), ("s >= :v", S("hello"), True),
        ("s < :v", S("hello!"), True),
        ("b < :v", B(b"\x00\x02"), True), ("b > :v", B(b"\x00\x01"), True), ("b < :v", B(b"\x80"), True),
        ("n < :v", S("z"), False), ("s < :v", N("1"), False), ("absent < :v", N("1"), False),
        ("ss < :v", S("zzz"), False), ("t > :v", N("0"), False),
    ],
)
def test_ordering(text, value, expected):
    assert check(text, {":v": value}) is expected


def test_string_order_is_utf8_byte_order():
    item = {"a": S("\uffff"), "c": S("\U00010000")}
    # Code point order equals UTF-8 byte order (not UTF-16 order, where U+10000 sorts before U+FFFF).
    assert check("a < c", item=item) is True


def test_ordering_between_two_paths():
    assert check("neg < n") is True
    assert check("s > n") is False


@pytest.mark.parametrize("value", [{"BOOL": True}, {"NULL": True}, {"L": []}, {"M": {}}, {"SS": ["a"]}])
def test_ordering_against_unorderable_value_is_an_error(value):
    tag = next(iter(value))
    assert error("a < :v", {":v": value}) == (
        f"Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: <, "
        f"operand type: {tag}"
    )


# -- BETWEEN and IN ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "low", "high", "expected"),
    [
        ("n BETWEEN :lo AND :hi", N("10"), N("10"), True), ("n BETWEEN :lo AND :hi", N("1"), N("9"), False),
        ("n BETWEEN :lo AND :hi", N("-1"), N("1e3"), True), ("s BETWEEN :lo AND :hi", S("h"), S("i"), True),
        ("b BETWEEN :lo AND :hi", B(b"\x00"), B(b"\x01"), True), ("s BETWEEN :lo AND :hi", N("1"), N("2"), False),
        ("absent BETWEEN :lo AND :hi", N("1"), N("2"), False),
    ],
)
def test_between(text, low, high, expected):
    assert check(text, {":lo": low, ":hi": high}) is expected


def test_between_bounds_errors():
    assert error("n BETWEEN :lo AND :hi", {":lo": N("2"), ":hi": N("1")}) == (
        "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower "
        "bound; lower bound operand: AttributeValue: {N:2}, upper bound operand: AttributeValue: {N:1}"
    )
    assert error("n BETWEEN :lo AND :hi", {":lo": N("1"), ":hi": S("10")}) == (
        "Invalid ConditionExpression: The BETWEEN operator requires same data type for lower and upper bounds; "
        "lower bound operand: AttributeValue: {N:1}, upper bound operand: AttributeValue: {S:10}"
    )
    assert "operator or function: BETWEEN, operand type: BOOL" in error(
        "n BETWEEN :lo AND :hi", {":lo": {"BOOL": True}, ":hi": N("1")}
    )


def test_between_with_path_bounds():
    assert check("n BETWEEN neg AND :hi", {":hi": N("11")}) is True
    assert check("n BETWEEN :lo AND neg", {":lo": N("11")}) is False  # not an error: known only per item


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("s IN (:a, :b)", {":a": S("x"), ":b": S("hello")}, True),
        ("s IN (:a)", {":a": S("x")}, False),
        ("n IN (:a, :b)", {":a": S("10"), ":b": N("10.00")}, True),
        ("t IN (:a)", {":a": {"BOOL": True}}, True),
        ("l IN (:a, :b)", {":a": S("x"), ":b": {"L": [S("x"), N("3"), {"M": {"k": S("v")}}, {"L": []}]}}, True),
        ("ss IN (:a)", {":a": {"SS": ["green", "red"]}}, True),
        ("absent IN (:a)", {":a": S("x")}, False),
        ("s IN (pk, m.a, :a)", {":a": S("nope")}, False),
        ("pk IN (s, :a)", {":a": S("p1")}, True),
    ],
)
def test_in(text, values, expected):
    assert check(text, values) is expected


# -- functions --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("attribute_exists(s)", True), ("attribute_exists(absent)", False), ("attribute_not_exists(absent)", True),
        ("attribute_exists(m.deep.lst[1])", True), ("attribute_exists(m.deep.lst[2])", False),
        ("attribute_exists(l[2].k)", True), ("attribute_exists(l[0].k)", False), ("attribute_exists(s[0])", False),
        ("attribute_exists(m.a.b)", False), ("attribute_exists(nul)", True), ("attribute_not_exists(l[9])", True),
    ],
)
def test_attribute_exists(text, expected):
    assert check(text) is expected


def test_attribute_exists_with_placeholder_names_containing_dots():
    assert check("attribute_exists(m.#d)", names={"#d": "dot.name"}) is True
    assert check("attribute_exists(#d)", names={"#d": "m.a"}) is False  # a literal top-level name


@pytest.mark.parametrize(
    ("path", "type_name"),
    [("s", "S"), ("n", "N"), ("b", "B"), ("t", "BOOL"), ("nul", "NULL"), ("ss", "SS"), ("ns", "NS"), ("bs", "BS"),
     ("l", "L"), ("m", "M")],
)
def test_attribute_type(path, type_name):
    assert check(f"attribute_type({path}, :t)", {":t": S(type_name)}) is True
    other = "S" if type_name != "S" else "N"
    assert check(f"attribute_type({path}, :t)", {":t": S(other)}) is False
    assert check("attribute_type(absent, :t)", {":t": S(type_name)}) is False


def test_attribute_type_errors():
    assert error("attribute_type(a, :t)", {":t": S("X")}) == (
        "Invalid ConditionExpression: Invalid attribute type name found; type: X, valid types: "
        "{B,NULL,SS,BOOL,L,BS,N,NS,S,M}"
    )
    assert error("attribute_type(a, :t)", {":t": N("1")}) == (
        "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: "
        "attribute_type, operand type: N"
    )
    assert "operand type: N" in error("attribute_type(a, size(a)) AND a = :t", {":t": S("x")})
    assert "operand type: {NS,SS,L,BS,N,M,B,BOOL,NULL,S}" in error("attribute_type(a, b)")


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("begins_with(s, :p)", S("he"), True), ("begins_with(s, :p)", S(""), True), ("begins_with(s, :p)", S("lo"), False),
        ("begins_with(b, :p)", B(b"\x00\x01"), True), ("begins_with(b, :p)", B(b"\x01"), False),
        ("begins_with(s, :p)", B(b"he"), False), ("begins_with(n, :p)", S("1"), False),
        ("begins_with(absent, :p)", S("x"), False), ("begins_with(:p, s)", S("hello world"), True),
    ],
)
def test_begins_with(text, value, expected):
    assert check(text, {":p": value}) is expected


@pytest.mark.parametrize("value", [N("1"), {"BOOL": True}, {"NULL": True}, {"L": []}, {"M": {}}, {"SS": ["a"]},
                                   {"NS": ["1"]}, {"BS": [b64(b"a")]}])
def test_begins_with_rejects_non_string_binary_values(value):
    tag = next(iter(value))
    assert error("begins_with(a, :p)", {":p": value}) == (
        "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: "
        f"begins_with, operand type: {tag}"
    )
    assert f"operand type: {tag}" in error("begins_with(:p, a)", {":p": value})
    assert "operand type: N" in error("begins_with(a, size(a))")


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("contains(s, :v)", S("ell"), True), ("contains(s, :v)", S("xyz"), False), ("contains(s, :v)", N("1"), False),
        ("contains(ss, :v)", S("red"), True), ("contains(ss, :v)", S("re"), False),
        ("contains(ns, :v)", N("2.5"), True), ("contains(ns, :v)", S("1"), False),
        ("contains(bs, :v)", B(b"\x02\x03"), True), ("contains(bs, :v)", B(b"\x02"), False),
        ("contains(b, :v)", B(b"\x01\xff"), True), ("contains(b, :v)", B(b"\x02"), False),
        ("contains(l, :v)", N("3"), True), ("contains(l, :v)", {"M": {"k": S("v")}}, True),
        ("contains(l, :v)", {"L": []}, True), ("contains(l, :v)", S("y"), False),
        ("contains(n, :v)", N("1"), False), ("contains(absent, :v)", S("x"), False),
        ("contains(m, :v)", S("a"), False),
    ],
)
def test_contains(text, value, expected):
    assert check(text, {":v": value}) is expected


def test_contains_with_path_operand():
    item = {"tags": {"SS": ["a", "b"]}, "tag": S("b"), "tag2": S("c")}
    assert check("contains(tags, tag)", item=item) is True
    assert check("contains(tags, tag2)", item=item) is False


@pytest.mark.parametrize(
    ("path", "size"),
    [("s", 5), ("b", 3), ("ss", 2), ("ns", 2), ("bs", 2), ("l", 4), ("m", 3), ("m.deep.lst", 2), ("emoji", 3)],
)
def test_size(path, size):
    assert check(f"size({path}) = :n", {":n": N(str(size))}) is True
    assert check(f"size({path}) > :n", {":n": N(str(size - 1))}) is True


@pytest.mark.parametrize("path", ["n", "t", "nul", "absent"])
def test_size_of_unsized_values_has_no_value(path):
    assert check(f"size({path}) >= :n", {":n": N("0")}) is False
    assert check(f"size({path}) <> :n", {":n": N("0")}) is True


def test_size_of_a_value_and_its_errors():
    assert check("size(:v) = :n", {":v": S("abc"), ":n": N("3")}) is True
    assert error("size(:v) > a", {":v": N("1")}) == (
        "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: size, "
        "operand type: N"
    )
    assert "operator or function: size, operand type: BOOL" in error("size(:v) > a", {":v": {"BOOL": True}})
    assert "operator or function: size, operand type: N" in error("size(size(a)) > :v", {":v": N("1")})


def test_size_between_and_in():
    assert check("size(l) BETWEEN :a AND :b", {":a": N("1"), ":b": N("4")}) is True
    assert check("size(s) IN (:a, :b)", {":a": N("4"), ":b": N("5")}) is True


# -- logic ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("attribute_exists(s) AND attribute_exists(n)", True), ("attribute_exists(s) AND attribute_exists(x)", False),
        ("attribute_exists(x) OR attribute_exists(n)", True), ("NOT attribute_exists(x)", True),
        ("attribute_exists(s) OR attribute_exists(n) AND attribute_exists(x)", True),
        ("(attribute_exists(s) OR attribute_exists(n)) AND attribute_exists(x)", False),
        ("NOT attribute_exists(s) AND attribute_exists(x)", False),
        ("NOT (attribute_exists(s) AND attribute_exists(x))", True),
        ("NOT NOT attribute_exists(s)", True),
    ],
)
def test_logic_and_precedence(text, expected):
    assert check(text) is expected


def test_missing_item():
    ctx = ExpressionContext(None, {":v": S("x")})
    cond = ctx.bind_condition(parse_condition("attribute_not_exists(pk) OR pk = :v"))
    assert evaluate(cond, None) is True
    assert evaluate(cond, {}) is True
    assert cond(None) is True


# -- binding errors -----------------------------------------------------------------------------------


def test_undefined_names_and_values():
    assert error("#a = :v", {":v": S("x")}) == (
        "Invalid ConditionExpression: An expression attribute name used in the document path is not defined; "
        "attribute name: #a"
    )
    assert error("a = :v") == (
        "Invalid ConditionExpression: An expression attribute value used in expression is not defined; "
        "attribute value: :v"
    )


@pytest.mark.parametrize(
    ("text", "op", "path"),
    [
        ("a = a", "=", "[a]"), ("#a <> a", "<>", "[a]"), ("a > #a", ">", "[a]"),
        ("(a = :v) OR (a = a)", "=", "[a]"),
        ("contains(ab.bc[1].a, ab.bc[1].#a)", "contains", "[ab, bc, [1], a]"),
        ("attribute_type(ab.bc[1].#a, ab.bc[1].a)", "attribute_type", "[ab, bc, [1], a]"),
        ("begins_with(ab.bc[1].a, ab.bc[1].#a)", "begins_with", "[ab, bc, [1], a]"),
    ],
)
def test_operands_must_be_distinct(text, op, path):
    with pytest.raises(ValidationException) as info:
        bind(parse_filter(text), ExpressionContext({"#a": "a"}, {":v": S("x")}), "FilterExpression")
    assert info.value.message == (
        "Invalid FilterExpression: The first operand must be distinct from the remaining operands for this operator "
        f"or function; operator: {op}, first operand: {path}"
    )


def test_identical_values_are_fine():
    assert check(":a = :a", {":a": S("x")}) is True


@pytest.mark.parametrize(
    ("text", "function", "count"),
    [("attribute_exists(things, a) and a = :v", "attribute_exists", 2), ("attribute_not_exists(things, b)", "attribute_not_exists", 2),
     ("attribute_type(things)", "attribute_type", 1), ("begins_with(things)", "begins_with", 1),
     ("begins_with(things, size(a), b)", "begins_with", 3), ("contains(things)", "contains", 1),
     ("size(things, a) > b", "size", 2)],
)
def test_wrong_number_of_operands(text, function, count):
    assert error(text, {":v": S("x")} if ":v" in text else None) == (
        "Invalid ConditionExpression: Incorrect number of operands for operator or function; operator or function: "
        f"{function}, number of operands: {count}"
    )


def test_functions_requiring_a_path():
    assert error("attribute_exists(:a) and a = :a", {":a": S("1")}) == (
        "Invalid ConditionExpression: Operator or function requires a document path; operator or function: "
        "attribute_exists"
    )
    assert "attribute_not_exists" in error("attribute_not_exists(size(:a))", {":a": S("1")})


def test_binding_error_ranking():
    # Undefined placeholders first, then operand counts, then identical operands, then operand types.
    assert "not defined" in error("size(a, b) > :zz AND c = c")
    assert "number of operands" in error("size(a, b) > :v AND c = c AND d < :t", {":v": N("1"), ":t": {"BOOL": True}})
    assert "distinct" in error("c = c AND d < :t", {":t": {"BOOL": True}})


# -- the context --------------------------------------------------------------------------------------


def test_context_rejects_empty_maps_and_bad_keys():
    with pytest.raises(ValidationException, match="^ExpressionAttributeNames must not be empty$"):
        ExpressionContext({}, None)
    with pytest.raises(ValidationException, match="^ExpressionAttributeValues must not be empty$"):
        ExpressionContext(None, {})
    with pytest.raises(ValidationException) as info:
        ExpressionContext({"a": "a"}, None)
    assert info.value.message == 'ExpressionAttributeNames contains invalid key: Syntax error; key: "a"'
    with pytest.raises(ValidationException) as info:
        ExpressionContext(None, {":a-b": S("x")})
    assert info.value.message == 'ExpressionAttributeValues contains invalid key: Syntax error; key: ":a-b"'
    with pytest.raises(ValidationException, match="255 bytes"):
        ExpressionContext({"#" + "a" * 255: "x"}, None)
    ExpressionContext({"#" + "a" * 254: "x"}, None)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({}, "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"),
        ({"S": "a", "N": "1"}, "Supplied AttributeValue has more than one datatypes set"),
        ({"NULL": False}, "Null attribute value types must have the value of true"),
        ({"SS": []}, "An string set  may not be empty"),
        ({"N": "x"}, "The parameter cannot be converted to a numeric value: x"),
        ({"SS": ["a", "a"]}, "Input collection [a, a] contains duplicates."),
    ],
)
def test_context_validates_values(value, text):
    with pytest.raises(ValidationException) as info:
        ExpressionContext(None, {":b": value})
    assert info.value.message.startswith("ExpressionAttributeValues contains invalid value: ")
    assert text in info.value.message
    assert info.value.message.endswith(" for key :b")


def test_context_normalizes_numbers():
    ctx = ExpressionContext(None, {":n": N("010.50")})
    assert ctx.values[":n"] == N("10.5")


def test_unused_names_and_values_across_expressions():
    ctx = ExpressionContext({"#a": "a", "#b": "b", "#c": "c"}, {":x": S("1"), ":y": S("2")})
    bind(parse_condition("#a = :x"), ctx)
    with pytest.raises(ValidationException) as info:
        ctx.check_unused()
    assert info.value.message == "Value provided in ExpressionAttributeNames unused in expressions: keys: {#b, #c}"
    bind(parse_filter("#b = :y AND #c <> :y"), ctx, "FilterExpression")
    ctx.check_unused()
    ctx2 = ExpressionContext(None, {":x": S("1"), ":y": S("2")})
    bind(parse_condition("a = :x"), ctx2)
    with pytest.raises(ValidationException) as info:
        ctx2.check_unused()
    assert info.value.message == "Value provided in ExpressionAttributeValues unused in expressions: keys: {:y}"


def test_binding_is_memoized_per_context_and_kind():
    ctx = ExpressionContext(None, {":x": S("1")})
    tree = parse_condition("a = :x")
    first = ctx.bind_condition(tree)
    assert ctx.bind_condition(tree) is first
    assert ctx.bind_condition(tree, "FilterExpression") is not first
    assert isinstance(first, BoundCondition) and first.paths == (("a",),)


def test_bound_paths_are_resolved():
    ctx = ExpressionContext({"#n": "name"}, {":v": S("x")})
    bound = ctx.bind_condition(parse_condition("#n.given = :v AND size(l[2]) > :v"))
    assert bound.paths == (("name", "given"), ("l", 2))


def test_context_resolution_methods():
    ctx = ExpressionContext({"#a": "a", "#b": "b"}, {":v": S("x")})
    assert ctx.name("#a") == "a" and ctx.value(":v") == S("x")
    with pytest.raises(ValidationException, match="^Invalid UpdateExpression: An expression attribute name used in the "
                       "document path is not defined; attribute name: #z$"):
        ctx.name("#z", "UpdateExpression")
    with pytest.raises(ValidationException, match="attribute value: :z$"):
        ctx.value(":z")
    with pytest.raises(ValidationException, match=r"keys: \{#b\}"):
        ctx.check_unused()
