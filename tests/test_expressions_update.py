"""Update expressions: SET / REMOVE / ADD / DELETE semantics, DynamoDB's errors, ReturnValues support."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from accelerator.core.errors import ValidationException
from accelerator.expressions import (
    ExpressionContext,
    apply_update,
    bind,
    check_key_not_updated,
    parse_update,
    updated_attributes,
)

Item = dict[str, Any]


def S(v: str) -> dict[str, Any]:
    return {"S": v}


def N(v: str) -> dict[str, Any]:
    return {"N": v}


def L(*v: Any) -> dict[str, Any]:
    return {"L": list(v)}


def M(**v: Any) -> dict[str, Any]:
    return {"M": dict(v)}


def run(text: str, item: Item | None, values: dict[str, Any] | None = None, names: dict[str, str] | None = None,
        key: Item | None = None) -> Item:
    before = copy.deepcopy(item)
    ctx = ExpressionContext(names, values)
    new, touched = apply_update(parse_update(text), item, ctx, key=key)
    ctx.check_unused()
    assert item == before, "the input item must not be modified"
    return new


def error(text: str, item: Item | None, values: dict[str, Any] | None = None, names: dict[str, str] | None = None) -> str:
    with pytest.raises(ValidationException) as info:
        run(text, item, values, names)
    return info.value.message


BASE: Item = {"p": S("k"), "a": S("hello"), "n": N("5"), "l": L(N("1"), N("2"), N("3")),
              "m": M(x=N("1"), kid=M(y=S("z")), lst=L(S("q"))), "ss": {"SS": ["a", "b"]}}


# -- SET --------------------------------------------------------------------------------------------


def test_set_new_and_existing_attributes():
    new = run("SET b = :v, a = :w", BASE, {":v": S("new"), ":w": S("changed")})
    assert new["b"] == S("new") and new["a"] == S("changed") and new["n"] == N("5")


def test_set_copies_and_reads_before_writes():
    assert run("SET b = a", BASE)["b"] == S("hello")
    assert run("SET a = n, n = a", BASE)["a"] == N("5")  # both read the old item
    assert run("REMOVE a SET b = a", BASE) == {**{k: v for k, v in BASE.items() if k != "a"}, "b": S("hello")}
    assert error("SET x = :v, y = x", BASE, {":v": N("1")}) == (
        "The provided expression refers to an attribute that does not exist in the item"
    )
    assert "does not exist" in error("SET c = z", BASE)
    assert "does not exist" in error("SET z = z", BASE)


def test_set_arithmetic():
    assert run("SET n = n + :d", BASE, {":d": N("2.5")})["n"] == N("7.5")
    assert run("SET n = :d - n", BASE, {":d": N("1")})["n"] == N("-4")
    assert run("SET c = n + n", BASE)["c"] == N("10")
    assert run("SET c = :a + :b", BASE, {":a": N("0.1"), ":b": N("0.2")})["c"] == N("0.3")
    assert run("SET c = :a - :a", BASE, {":a": N("1e10")})["c"] == N("0")
    big = "9" * 38
    assert run("SET c = :a + :b", BASE, {":a": N(big), ":b": N("0")})["c"] == N(big)
    # DynamoDB calls a sum that needs more than 38 digits an overflow, whatever its magnitude.
    assert error("SET c = :a + :b", BASE, {":a": N(big), ":b": N("0.1")}) == (
        "Number overflow. Attempting to store a number with magnitude larger than supported range"
    )
    assert "does not exist" in error("SET c = absent + :a", BASE, {":a": N("1")})
    assert error("SET c = a + :a", BASE, {":a": N("1")}) == "An operand in the update expression has an incorrect data type"


@pytest.mark.parametrize(("op", "value", "tag"), [("+", S("x"), "S"), ("-", {"BOOL": True}, "BOOL"), ("+", L(), "L"),
                                                  ("-", {"SS": ["a"]}, "SS"), ("+", M(), "M")])
def test_set_arithmetic_constant_types(op, value, tag):
    assert error(f"SET c = n {op} :v", BASE, {":v": value}) == (
        f"Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: {op}, "
        f"operand type: {tag}"
    )


def test_if_not_exists():
    assert run("SET n = if_not_exists(n, :v)", BASE, {":v": N("9")})["n"] == N("5")
    assert run("SET c = if_not_exists(c, :v)", BASE, {":v": N("9")})["c"] == N("9")
    assert run("SET c = if_not_exists(n, :v)", BASE, {":v": N("9")})["c"] == N("5")
    assert run("SET c = if_not_exists(c, :v) + :one", BASE, {":v": N("9"), ":one": N("1")})["c"] == N("10")
    assert run("SET c = if_not_exists(c, if_not_exists(n, :v))", BASE, {":v": N("9")})["c"] == N("5")


def test_if_not_exists_errors():
    assert error("SET a = if_not_exists(:a, c)", BASE, {":a": S("a")}) == (
        "Invalid UpdateExpression: Operator or function requires a document path; operator or function: if_not_exists"
    )
    assert "requires a document path" in error("SET a = if_not_exists(if_not_exists(a, b), c)", BASE)
    assert error("SET a = if_not_exists(c)", BASE) == (
        "Invalid UpdateExpression: Incorrect number of operands for operator or function; operator or function: "
        "if_not_exists, number of operands: 1"
    )


def test_list_append():
    values = {":v": L(S("x"))}
    assert run("SET l = list_append(l, :v)", BASE, values)["l"] == L(N("1"), N("2"), N("3"), S("x"))
    assert run("SET l = list_append(:v, l)", BASE, values)["l"] == L(S("x"), N("1"), N("2"), N("3"))
    assert run("SET c = list_append(if_not_exists(c, :e), :v)", BASE, {":e": L(), ":v": L(N("7"))})["c"] == L(N("7"))
    assert run("SET c = list_append(l, l)", BASE)["c"] == L(*(BASE["l"]["L"] * 2))


def test_list_append_errors():
    assert error("SET c = list_append(:a, :b)", BASE, {":a": L(), ":b": S("hi")}) == (
        "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: "
        "list_append, operand type: S"
    )
    assert "does not exist" in error("SET c = list_append(absent, :a)", BASE, {":a": L()})
    assert error("SET c = list_append(a, :a)", BASE, {":a": L()}) == (
        "An operand in the update expression has an incorrect data type"
    )
    assert error("SET c = list_append(ss, if_not_exists(f, :a))", BASE, {":a": L()}) == (
        "An operand in the update expression has an incorrect data type"
    )
    assert error("SET c = list_append(list_append(:a, :a), :a)", BASE, {":a": L()}) == (
        "Invalid UpdateExpression: The function is not allowed to be used this way in an expression; "
        "function: list_append"
    )
    assert "number of operands: 3" in error("SET a = list_append(:a, :a, :a)", BASE, {":a": L()})


def test_set_nested_paths():
    new = run("SET m.x = :v, m.kid.y = :w, m.lst[0] = :w, m.added = :v", BASE, {":v": N("2"), ":w": S("w")})
    assert new["m"] == M(x=N("2"), kid=M(y=S("w")), lst=L(S("w")), added=N("2"))
    assert BASE["m"] == M(x=N("1"), kid=M(y=S("z")), lst=L(S("q")))
    # Untouched siblings are shared, not copied.
    assert new["l"] is BASE["l"]


def test_set_list_index_past_end_appends_in_index_order():
    new = run("SET l[84] = :a, l[37] = :b, l[17] = :c, l[3] = :d", BASE,
              {":a": S("a"), ":b": S("b"), ":c": S("c"), ":d": S("d")})
    assert new["l"] == L(N("1"), N("2"), N("3"), S("d"), S("c"), S("b"), S("a"))


def test_set_with_invalid_parent_path():
    message = "The document path provided in the update expression is invalid for update"
    for text in ("SET a.c = :v", "SET l.c = :v", "SET absent.c = :v", "SET a[0] = :v", "SET m[0] = :v",
                 "SET absent[0] = :v", "SET m.kid.nope.x = :v", "SET l[7].x = :v"):
        assert error(text, BASE, {":v": N("1")}) == message, text
    assert error("SET b.a = :v", None, {":v": N("1")}) == message


def test_set_on_missing_item_starts_from_key():
    new = run("SET a = :v, c = p", None, {":v": N("1")}, key={"p": S("k")})
    assert new == {"p": S("k"), "a": N("1"), "c": S("k")}


def test_dot_in_placeholder_name_is_literal():
    assert run("SET #a = :v", BASE, {":v": N("3")}, {"#a": "a.b"})["a.b"] == N("3")


# -- REMOVE -----------------------------------------------------------------------------------------


def test_remove_attributes_nested_and_missing():
    new = run("REMOVE a, absent, m.x, m.kid.y, m.nothing", BASE)
    assert "a" not in new and new["m"] == M(kid=M(), lst=L(S("q")))


def test_remove_list_elements_shift():
    item = {"p": S("k"), "l": L(S("Chisel"), S("Hammer"), S("Nails"), S("Screwdriver"), S("Hacksaw"))}
    assert run("REMOVE l[1], l[2]", item)["l"] == L(S("Chisel"), S("Screwdriver"), S("Hacksaw"))
    assert run("REMOVE l[2], l[1]", item)["l"] == L(S("Chisel"), S("Screwdriver"), S("Hacksaw"))
    assert run("REMOVE l[17]", item)["l"] == item["l"]
    assert run("REMOVE l[0], l[1], l[2], l[3], l[4]", item)["l"] == L()


def test_remove_and_set_indexes_refer_to_the_original_list():
    item = {"a": L(N("2"), N("3"), N("4"), N("5"), N("6"), N("7"))}
    expected = L(N("2"), N("4"), N("17"), N("6"), N("7"))
    assert run("REMOVE a[1] SET a[3] = :v", item, {":v": N("17")})["a"] == expected
    assert run("SET a[3] = :v REMOVE a[1]", item, {":v": N("17")})["a"] == expected


def test_remove_inside_list_elements():
    item = {"a": M(b=N("3"), c=L(S("hi"), M(x=M(y=L(N("3"), N("5"), N("7"))), q=N("2"))))}
    new = run("REMOVE a.c[1].x.y[1], a.c[1].q", item)
    assert new["a"] == M(b=N("3"), c=L(S("hi"), M(x=M(y=L(N("3"), N("7"))))))


def test_remove_with_invalid_parent_path():
    for text in ("REMOVE a.c", "REMOVE l.c", "REMOVE absent.c", "REMOVE a[0]", "REMOVE absent[0]", "REMOVE m[0]"):
        assert error(text, BASE) == "The document path provided in the update expression is invalid for update", text


def test_remove_on_missing_item_is_silent():
    assert run("REMOVE x.y, z[0], w", None, key={"p": S("k")}) == {"p": S("k")}
    bound = bind(parse_update("REMOVE x"), ExpressionContext())
    assert bound.writes is False
    assert bind(parse_update("REMOVE x SET y = :v"), ExpressionContext(None, {":v": N("1")})).writes is True


# -- ADD --------------------------------------------------------------------------------------------


def test_add_numbers():
    assert run("ADD n :v", BASE, {":v": N("4")})["n"] == N("9")
    assert run("ADD n :v", BASE, {":v": N("-5")})["n"] == N("0")
    assert run("ADD c :v", BASE, {":v": N("8")})["c"] == N("8")
    assert run("ADD c :v", None, {":v": N("8")}, key={"p": S("k")}) == {"p": S("k"), "c": N("8")}
    assert run("ADD m.x :v", BASE, {":v": N("1")})["m"]["M"]["x"] == N("2")
    assert run("ADD l[1] :v", BASE, {":v": N("1")})["l"] == L(N("1"), N("3"), N("3"))


def test_add_sets():
    assert run("ADD ss :v", BASE, {":v": {"SS": ["c", "a"]}})["ss"] == {"SS": ["a", "b", "c"]}
    assert run("ADD c :v", BASE, {":v": {"NS": ["1", "2"]}})["c"] == {"NS": ["1", "2"]}
    item = {"bs": {"BS": [base64.b64encode(b"x").decode()]}}
    new = run("ADD bs :v", item, {":v": {"BS": [base64.b64encode(b"y").decode(), base64.b64encode(b"x").decode()]}})
    assert new["bs"] == {"BS": [base64.b64encode(b"x").decode(), base64.b64encode(b"y").decode()]}


def test_add_errors():
    bad_operand = "An operand in the update expression has an incorrect data type"
    assert error("ADD a :v", BASE, {":v": N("1")}) == bad_operand
    assert error("ADD ss :v", BASE, {":v": {"NS": ["1"]}}) == bad_operand
    assert error("ADD n :v", BASE, {":v": {"NS": ["1"]}}) == bad_operand
    assert error("ADD l :v", BASE, {":v": {"SS": ["x"]}}) == bad_operand
    assert error("ADD absent.x :v", BASE, {":v": N("1")}) == "The document path provided in the update expression is invalid for update"


@pytest.mark.parametrize(
    ("section", "value", "long_type"),
    [("ADD", S("a"), "STRING"), ("DELETE", S("a"), "STRING"), ("ADD", {"NULL": True}, "NULL"), ("ADD", {"BOOL": False}, "BOOLEAN"),
     ("DELETE", {"BOOL": False}, "BOOLEAN"), ("ADD", {"B": "YQ=="}, "BINARY"), ("ADD", M(), "MAP"), ("DELETE", M(), "MAP"),
     ("ADD", L(N("1")), "LIST"), ("DELETE", L(N("1")), "LIST"), ("DELETE", N("1"), "NUMBER")],
)
def test_add_delete_operand_types(section, value, long_type):
    assert error(f"{section} a.b :a", BASE, {":a": value}) == (
        f"Invalid UpdateExpression: Incorrect operand type for operator or function; operator: {section}, "
        f"operand type: {long_type}"
    )


# -- DELETE -----------------------------------------------------------------------------------------


def test_delete_from_sets():
    item = {"a": {"SS": ["dog", "cat", "mouse"]}, "b": S("hi")}
    assert run("DELETE a :v", item, {":v": {"SS": ["cat", "mouse"]}})["a"] == {"SS": ["dog"]}
    assert run("DELETE a :v", item, {":v": {"SS": ["pig"]}})["a"] == item["a"]
    assert run("DELETE a :v", item, {":v": {"SS": ["dog", "cat", "mouse"]}}) == {"b": S("hi")}
    assert run("DELETE absent :v", item, {":v": {"SS": ["dog"]}}) == item
    assert run("DELETE x :v", None, {":v": {"SS": ["dog"]}}, key={"p": S("k")}) == {"p": S("k")}
    assert error("DELETE a :v", item, {":v": {"NS": ["1"]}}) == "An operand in the update expression has an incorrect data type"
    assert error("DELETE b :v", item, {":v": {"SS": ["h"]}}) == "An operand in the update expression has an incorrect data type"
    nested = {"l": L({"NS": ["1"]}, S("x"))}
    assert run("DELETE l[0] :v", nested, {":v": {"NS": ["1"]}})["l"] == L(S("x"))


# -- static checks ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["SET a = :v1, a.b = :v2", "SET a.b = :v1, a = :v2", "SET a.b = :v1, a.b = :v2", "SET a.b.c.d.e = :v1, a.b = :v2",
     "SET a = :v1, a[1] = :v2", "SET a[1][1] = :v1, a[1] = :v2", "SET a[1][1][1][1] = :v1, a[1][1][1][1] = :v2",
     "SET a = :v1 REMOVE a", "REMOVE a SET a = :v1", "SET #a1 = :v1, #a2 = :v2"],
)
def test_overlapping_paths(text):
    values = {":v1": N("2"), ":v2": S("x")}
    values = {k: v for k, v in values.items() if k in text}
    names = {"#a1": "a", "#a2": "a"} if "#" in text else None
    assert "Invalid UpdateExpression: Two document paths overlap with each other" in error(text, BASE, values, names)


def test_overlap_and_conflict_messages():
    names = {"#c": "c", "#d": "[3]"}
    assert error("set c.b.#c = a, c = a, #d = a", BASE, None, names) == (
        "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these "
        "paths; path one: [c, b, c], path two: [c]"
    )
    assert error("set #c[3].#d = a, #c[3] = a", BASE, None, names) == (
        "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these "
        "paths; path one: [c, [3], [3]], path two: [c, [3]]"
    )
    assert error("remove a.#c set a[1] = #d", BASE, None, names) == (
        "Invalid UpdateExpression: Two document paths conflict with each other; must remove or rewrite one of these "
        "paths; path one: [a, c], path two: [a, [1]]"
    )
    # Overlap outranks a conflict found earlier.
    assert "overlap" in error("set d[1] = a, d.b = a, c[1].a = a, #c = a", BASE, None, names)


def test_non_overlapping_nested_updates():
    item = {"a": M(x=N("3"), y=N("4"), c=M(y=N("3"))), "b": M(x=N("1"), y=N("2"))}
    new = run("SET a.b = :v1, a.c.d = :v2, b.x = :v3 REMOVE a.x, b.y", item, {":v1": N("10"), ":v2": S("dog"), ":v3": N("17")})
    assert new == {"a": M(y=N("4"), c=M(y=N("3"), d=S("dog")), b=N("10")), "b": M(x=N("17"))}


def test_undefined_placeholders_and_error_ranking():
    assert error("SET #n = :v", BASE, {":v": N("1")}) == (
        "Invalid UpdateExpression: An expression attribute name used in the document path is not defined; "
        "attribute name: #n"
    )
    assert error("SET a = :zz", BASE, {":v": N("1")}) == (
        "Invalid UpdateExpression: An expression attribute value used in expression is not defined; attribute value: :zz"
    )
    assert "name used in the document path" in error("SET #c = if_not_exists(:c)", BASE)
    # Operand types of ADD/DELETE outrank function errors.
    assert "operator: ADD, operand type: STRING" in error(
        "SET b = list_append(:a, a), c = if_not_exists(a) ADD d.e :a", BASE, {":a": S("a")}
    )


# -- ReturnValues and key checks --------------------------------------------------------------------


def test_touched_names_and_updated_attributes():
    item = {"p": S("k"), "a": M(b=S("dog"), c=L(N("1"), N("2"), N("3"))), "d": S("cat")}
    ctx = ExpressionContext(None, {":v": N("7"), ":w": S("x")})
    bound = bind(parse_update("SET a.c[1] = :v, a.b = :w, e = :w"), ctx)
    new, touched = apply_update(bound, item)
    assert touched == frozenset({"a", "e"})
    assert updated_attributes(bound, item) == {"a": M(b=S("dog"), c=L(N("2")))}
    assert updated_attributes(bound, new) == {"a": M(b=S("x"), c=L(N("7"))), "e": S("x")}
    removing = bind(parse_update("REMOVE a.c[1], a.c[3]"), ExpressionContext())
    assert updated_attributes(removing, item) == {"a": M(c=L(N("2")))}
    assert updated_attributes(removing, apply_update(removing, item)[0]) == {"a": M(c=L(N("3")))}


def test_updating_key_attributes_is_refused():
    for text in ("ADD p.b :v", "SET b = :v, p = :v", "REMOVE p", "DELETE p :s"):
        values = {":v": N("1")} if ":v" in text else {":s": {"NS": ["1"]}}
        bound = bind(parse_update(text), ExpressionContext(None, values))
        with pytest.raises(ValidationException) as info:
            check_key_not_updated(bound, ("p",))
        assert info.value.message == (
            "One or more parameter values were invalid: Cannot update attribute p. This attribute is part of the key"
        )
    check_key_not_updated(bind(parse_update("SET x = p"), ExpressionContext()), ("p",))
