"""Parsing: tokens, grammar, DynamoDB's syntax and text-only errors, limits and the parse cache."""

from __future__ import annotations

import pytest

from accelerator.core.errors import ValidationException
from accelerator.expressions import (
    MAX_EXPRESSION_BYTES,
    RESERVED_WORDS,
    is_reserved,
    parse_cache_clear,
    parse_cache_info,
    parse_condition,
    parse_filter,
    parse_key_condition,
    parse_projection,
    parse_update,
)
from accelerator.expressions.lexer import EOF, IDENT, NAME, NUMBER, OTHER, PUNCT, VALUE, tokenize
from accelerator.expressions.tree import (
    AddAction,
    And,
    Arithmetic,
    Between,
    Call,
    Compare,
    DeleteAction,
    In,
    NameRef,
    Not,
    Or,
    Path,
    RemoveAction,
    SetAction,
    ValueRef,
)


def message(fn, *args) -> str:
    with pytest.raises(ValidationException) as info:
        fn(*args)
    return info.value.message


# -- tokenizer --------------------------------------------------------------------------------------


def test_tokenize_kinds_and_positions():
    tokens = tokenize(" #a.b[12] <= :v_1 AND x<>y ü")
    assert [(k, t) for k, t, _, _ in tokens] == [
        (NAME, "#a"), (PUNCT, "."), (IDENT, "b"), (PUNCT, "["), (NUMBER, "12"), (PUNCT, "]"), (PUNCT, "<="),
        (VALUE, ":v_1"), (IDENT, "AND"), (IDENT, "x"), (PUNCT, "<>"), (IDENT, "y"), (OTHER, "ü"), (EOF, "<EOF>"),
    ]
    assert tokens[0][2:] == (1, 3)


def test_tokenize_lone_sigils_are_single_char_tokens():
    assert [t[:2] for t in tokenize("# :")][:2] == [(OTHER, "#"), (OTHER, ":")]


# -- reserved words -----------------------------------------------------------------------------------


def test_reserved_words_list_is_the_documented_one():
    assert len(RESERVED_WORDS) == 573
    for word in ("ABORT", "STATUS", "NAME", "DATA", "ZONE", "FLATTERN", "INNTER", "LOGED", "TTL"):
        assert word in RESERVED_WORDS
    assert is_reserved("Status") and is_reserved("size") and not is_reserved("pk")


@pytest.mark.parametrize(
    ("parse", "text", "word"),
    [
        (parse_condition, "status = :s", "status"),
        (parse_condition, ":a < abOrT", "abOrT"),
        (parse_condition, "attribute_exists(views, #a)", "views"),
        (parse_condition, "a.b.Name = :v", "Name"),
        (parse_projection, "a, Data", "Data"),
        (parse_update, " remove Absolute ", "Absolute"),
        (parse_update, "SET a = size", "size"),
    ],
)
def test_reserved_word_as_bare_name(parse, text, word):
    kind = {parse_condition: "ConditionExpression", parse_projection: "ProjectionExpression", parse_update: "UpdateExpression"}[parse]
    assert message(parse, text) == f"Invalid {kind}: Attribute name is a reserved keyword; reserved keyword: {word}"


def test_reserved_word_through_placeholder_is_fine():
    assert parse_condition("#s = :s").root == Compare("=", Path((NameRef("#s"),)), ValueRef(":s"))


# -- condition grammar --------------------------------------------------------------------------------


def test_precedence_not_and_or():
    root = parse_condition("a = :a OR NOT b = :b AND c = :c").root
    assert isinstance(root, Or)
    assert isinstance(root.right, And) and isinstance(root.right.left, Not)


def test_parentheses_change_grouping():
    root = parse_condition("(a = :a OR b = :b) AND c = :c").root
    assert isinstance(root, And) and isinstance(root.left, Or)


def test_keywords_case_insensitive_functions_case_sensitive():
    root = parse_condition("a BeTwEeN :x aNd :y oR b In (:z)").root
    assert isinstance(root, Or) and isinstance(root.left, Between) and isinstance(root.right, In)
    assert message(parse_condition, "BEGINS_WITH(a, :p)") == (
        "Invalid ConditionExpression: Invalid function name; function: BEGINS_WITH"
    )


def test_paths_with_names_indexes_and_groups():
    root = parse_condition("#a.b[2].#c[10] <> :v").root
    assert root == Compare("<>", Path((NameRef("#a"), "b", 2, NameRef("#c"), 10)), ValueRef(":v"))
    # DynamoDB accepts a parenthesised head of a path.
    assert parse_condition("(a.b).c = :v").root == Compare("=", Path(("a", "b", "c")), ValueRef(":v"))
    assert parse_condition("a . b [ 1 ] = :v").root == Compare("=", Path(("a", "b", 1)), ValueRef(":v"))


def test_all_comparators_and_functions_parse():
    for op in ("=", "<>", "<", "<=", ">", ">="):
        assert parse_condition(f"a {op} :v").root == Compare(op, Path(("a",)), ValueRef(":v"))
    root = parse_condition(
        "attribute_exists(a) AND attribute_not_exists(b) AND attribute_type(c, :t) AND begins_with(d, :p)"
        " AND contains(e, :x) AND size(f) > :n"
    ).root
    names = []
    node = root
    while isinstance(node, And):
        names.append(node.right)
        node = node.left
    names.append(node)
    assert {n.name for n in names if isinstance(n, Call)} == {
        "attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains",
    }


@pytest.mark.parametrize(
    ("text", "token", "near"),
    [
        ("a > 4", "4", "> 4"),
        ("p", "<EOF>", "p"),
        ("a = b c", "c", "b c"),
        ("a AND b = c", "AND", "a AND b"),
        ("a = :v AND", "<EOF>", "AND"),
        ("size(a).b > a", ".", ").b"),
        ("ü > a", "ü", "ü >"),
        ("a in b", "b", "in b"),
        ("a in (b,c,)", ")", ",)"),
        ("attribute_exists(asdf[a])", "a", "[a]"),
        ("b[#_] > a", "#_", "[#_]"),
        ("a > between", "between", "> between"),
        ("(a = b) = c", "=", ") = c"),
        ("a != b", "!", "a !="),
        ("_x = :v", "_", "_x"),
    ],
)
def test_condition_syntax_errors(text, token, near):
    assert message(parse_condition, text) == f'Invalid ConditionExpression: Syntax error; token: "{token}", near: "{near}"'


@pytest.mark.parametrize(
    "text",
    ["((a = b))", "a=a and a > ((views))", "(a)between(((b.c)).d)and(c)", "a=a AND ((a=a AND a=a)) AND a=a",
     "a=a OR ((a=a OR (a=a OR a=a)))"],
)
def test_redundant_parentheses(text):
    assert message(parse_filter, text) == "Invalid FilterExpression: The expression has redundant parentheses;"


def test_single_parentheses_allowed_everywhere():
    parse_condition("((c = :c) AND (p = :p))")
    parse_condition("(a) BETWEEN (:x) AND (:y)")
    parse_condition("(a) IN ((:x), :y)")


@pytest.mark.parametrize(
    ("text", "function"),
    [
        ("a=a and attribute_exists((views), (#a)) > b", "attribute_exists"),
        ("attribute_not_exists(things) > b", "attribute_not_exists"),
        ("attribute_type(things, :a) > b", "attribute_type"),
        ("begins_with(things, a) > b", "begins_with"),
        ("contains(:things, c) > b", "contains"),
        ("size(contains(a, b)) > a", "contains"),
        ("size(things)", "size"),
        ("a between b and attribute_exists(things)", "attribute_exists"),
        ("a in (b, attribute_exists(things))", "attribute_exists"),
        ("NOT size(a)", "size"),
    ],
)
def test_misused_functions(text, function):
    assert message(parse_filter, text) == (
        "Invalid FilterExpression: The function is not allowed to be used this way in an expression; "
        f"function: {function}"
    )


@pytest.mark.parametrize(
    ("text", "function"),
    [("a=a and whatever((:things)) > a", "whatever"), ("attRIbute_exIsts((views), #a)", "attRIbute_exIsts")],
)
def test_unknown_functions_in_conditions(text, function):
    assert message(parse_filter, text) == f"Invalid FilterExpression: Invalid function name; function: {function}"


@pytest.mark.parametrize(("text", "function"), [("if_not_exists(a, :v) = :v", "if_not_exists"),
                                                ("list_append(a, :v) = :v", "list_append")])
def test_update_functions_in_conditions(text, function):
    assert message(parse_filter, text) == (
        f"Invalid FilterExpression: The function is not allowed in a condition expression; function: {function}"
    )


def test_error_ranking_parens_before_functions_before_reserved():
    assert "redundant parentheses" in message(parse_condition, "status = ((a)) AND foo(b)")
    assert "Invalid function name" in message(parse_condition, "status = a AND foo(b)")
    assert "not allowed to be used" in message(parse_condition, "status = a AND size(b)")
    # A syntax error anywhere wins over everything noted before it.
    assert "Syntax error" in message(parse_condition, "status = ((a)) AND")


def test_in_operand_limit():
    ok = "a IN (" + ", ".join(f":v{i}" for i in range(100)) + ")"
    parse_condition(ok)
    too_many = "a IN (" + ", ".join(f":v{i}" for i in range(101)) + ")"
    assert message(parse_condition, too_many) == (
        "Invalid ConditionExpression: The IN operator is provided with too many operands; number of operands: 101"
    )


def test_prefix_follows_the_parameter():
    assert message(parse_filter, "a =").startswith("Invalid FilterExpression: Syntax error")
    assert message(parse_key_condition, "a =").startswith("Invalid KeyConditionExpression: Syntax error")
    assert message(parse_condition, "a =").startswith("Invalid ConditionExpression: Syntax error")


# -- projection grammar -------------------------------------------------------------------------------


def test_projection_paths():
    projection = parse_projection("a, #b.c, d[1][2].e")
    assert projection.paths == (Path(("a",)), Path((NameRef("#b"), "c")), Path(("d", 1, 2, "e")))


@pytest.mark.parametrize(("text", "token", "near"), [("!!", "!", "!!"), ("a,", "<EOF>", ","), ("a b", "b", "a b"),
                                                     ("a[x]", "x", "[x]"), (":v", ":v", ":v"), ("size(a)", "(", "size(a")])
def test_projection_syntax_errors(text, token, near):
    assert message(parse_projection, text) == f'Invalid ProjectionExpression: Syntax error; token: "{token}", near: "{near}"'


# -- update grammar -----------------------------------------------------------------------------------


def test_update_clauses_in_any_order_and_case():
    update = parse_update("remove x SET a = :v, b = a ADD n :one delete s :s")
    kinds = [type(a) for a in update.actions]
    assert kinds == [RemoveAction, SetAction, SetAction, AddAction, DeleteAction]


def test_update_values():
    actions = parse_update(
        "SET a = b + :c, d = (:e - f), g = if_not_exists(g, :z) + :one, h = list_append(if_not_exists(h, :l), :m)"
    ).actions
    assert actions[0].value == Arithmetic("+", Path(("b",)), ValueRef(":c"))  # type: ignore[union-attr]
    assert actions[1].value == Arithmetic("-", ValueRef(":e"), Path(("f",)))  # type: ignore[union-attr]
    assert isinstance(actions[2].value, Arithmetic)  # type: ignore[union-attr]
    assert actions[3].value == Call(  # type: ignore[union-attr]
        "list_append", (Call("if_not_exists", (Path(("h",)), ValueRef(":l"))), ValueRef(":m"))
    )


@pytest.mark.parametrize(
    "text",
    ["whatever", "set a", "add a", "delete a", "set a=set", "remove a = b", "add a = b", "delete a = b", "delete a b",
     "add abort b", "remove a b", "set a b", "set :a = b", "add :a b", "remove :a", "set a = b / c", "set a = b * c",
     'set a[1] = "eight"', "set a[1] = 1", "SET if_not_exist(a, b) = a", "set (a = (b + c))", "set a = (b.c).d + e",
     "set a = b + c + d", "SET c = if_not_exists(c, :val1+:val2)", "SET a[:xyz] = :v", "SET a[#xyz] = :v",
     "SET # = :v", "SET a = :", "SET hi-there = :v", "SET _abc = :v", "SET 123 = :v", "SET a = _f(b)", ","],
)
def test_update_syntax_errors(text):
    assert message(parse_update, text).startswith("Invalid UpdateExpression: Syntax error; token: ")


def test_update_syntax_error_details():
    assert message(parse_update, "SET _123 = :v") == 'Invalid UpdateExpression: Syntax error; token: "_", near: "SET _123"'
    assert message(parse_update, "SET a = :val1,") == 'Invalid UpdateExpression: Syntax error; token: "<EOF>", near: ","'


@pytest.mark.parametrize(("text", "section"), [("set a = #c set c = :d", "SET"), ("remove #d set a = b remove e", "REMOVE"),
                                               ("add #d :e set a = b add e :f", "ADD"),
                                               ("delete #d :e set a = b delete #e :f", "DELETE")])
def test_update_section_only_once(text, section):
    assert message(parse_update, text) == (
        f'Invalid UpdateExpression: The "{section}" section can only be used once in an update expression;'
    )


@pytest.mark.parametrize(("text", "function"), [("SET a = f(b,c,d)", "f"), ("SET a = f123_hi(b)", "f123_hi"),
                                                ("SET a = LIST_APPEND(:a, :b)", "LIST_APPEND")])
def test_update_unknown_functions(text, function):
    assert message(parse_update, text) == f"Invalid UpdateExpression: Invalid function name; function: {function}"


@pytest.mark.parametrize(("text", "function"), [("SET a = size(b)", "size"),
                                                ("SET a = attribute_exists(b)", "attribute_exists")])
def test_condition_functions_in_updates(text, function):
    assert message(parse_update, text) == (
        f"Invalid UpdateExpression: The function is not allowed in an update expression; function: {function}"
    )


def test_update_operator_limit():
    parse_update("SET " + ",".join(f"x{i}=b+c" for i in range(300)))
    many = "SET " + ",".join(f"x{i}=b+c" for i in range(301))
    assert "too many operators" in message(parse_update, many)


# -- limits and the cache ------------------------------------------------------------------------------


def test_empty_expressions():
    assert message(parse_condition, "") == "Invalid ConditionExpression: The expression can not be empty;"
    assert message(parse_projection, "") == "Invalid ProjectionExpression: The expression can not be empty;"
    assert message(parse_update, "") == "Invalid UpdateExpression: The expression can not be empty;"
    assert message(parse_condition, "   ").startswith("Invalid ConditionExpression: Syntax error")


def test_expression_size_limit_counts_utf8_bytes():
    at_limit = "a = :v AND " + "#" + "x" * (MAX_EXPRESSION_BYTES - 17) + " = :w"
    assert len(at_limit.encode()) == MAX_EXPRESSION_BYTES
    parse_condition(at_limit)
    over = at_limit + " "
    assert message(parse_filter, over) == (
        "Invalid FilterExpression: Expression size has exceeded the maximum allowed size; expression size: 4097"
    )
    # 1100 three-byte characters: few characters, too many bytes.
    wide = "a = :v AND b = :w" + " " * 0 + "\u20ac" * 1400
    assert "expression size: " in message(parse_condition, wide)
    assert "Expression size has exceeded" in message(parse_update, "SET a = :v" + " " * 4100)
    assert "Expression size has exceeded" in message(parse_projection, "a" + ", a" * 2100)


def test_parse_cache_counts_hits_and_returns_same_tree():
    parse_cache_clear()
    first = parse_condition("cache_probe = :v")
    second = parse_filter("cache_probe = :v")
    assert first is second
    parse_projection("cache_probe")
    parse_update("SET cache_probe = :v")
    info = parse_cache_info()
    assert (info.hits, info.misses, info.currsize) == (1, 3, 3)
    assert info.maxsize >= 3 * 1024
    parse_cache_clear()
    assert parse_cache_info().currsize == 0


def test_failed_parses_are_not_cached():
    parse_cache_clear()
    for _ in range(2):
        with pytest.raises(ValidationException):
            parse_condition("a =")
    assert parse_cache_info().currsize == 0


def test_trees_are_hashable_and_immutable():
    tree = parse_condition("a = :v AND b IN (:x, :y)")
    hash(tree)
    with pytest.raises(AttributeError):
        tree.root = None  # type: ignore[misc]


def test_exported_members():
    import accelerator.expressions as package

    for name in package.__all__:
        assert hasattr(package, name), name
    assert {"parse_condition", "parse_projection", "parse_update", "parse_key_condition", "parse_cache_info",
            "ExpressionContext", "evaluate", "project", "apply_update", "analyze_key_condition", "legacy_condition",
            "legacy_projection", "legacy_update", "check_parameter_mix"} <= set(package.__all__)
