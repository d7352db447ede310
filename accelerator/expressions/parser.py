"""Recursive-descent parsers for condition, projection and update expressions.

Each parser reads the token list once and builds a tree from ``tree``. Syntax errors stop it at once;
the other text-only errors (redundant parentheses, unknown or misplaced functions, reserved words,
repeated clauses) are noted while parsing and the highest-ranked one is raised afterwards, in the order
DynamoDB reports them, so that ``a = ((b)) AND status = :s`` names the parentheses, not ``status``.
Errors that need the request's names and values (undefined placeholders, overlapping paths, operand
types) belong to binding, not to parsing.

Why one module over 400 lines: the three grammars share operands, paths, function calls and the ranked
error notes; split apart, each piece would need the others' private helpers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

from accelerator.expressions.errors import ExpressionError
from accelerator.expressions.lexer import (
    EOF,
    IDENT,
    NAME,
    NUMBER,
    PUNCT,
    VALUE,
    Token,
    syntax_message,
    tokenize,
)
from accelerator.expressions.reserved import RESERVED_WORDS
from accelerator.expressions.tree import (
    CONDITION_FUNCTIONS,
    OPERAND_FUNCTIONS,
    UPDATE_FUNCTIONS,
    Action,
    AddAction,
    And,
    Arithmetic,
    Between,
    Call,
    Compare,
    Condition,
    DeleteAction,
    In,
    NameRef,
    Node,
    Not,
    Or,
    Path,
    PathElement,
    Projection,
    RemoveAction,
    SetAction,
    Update,
    ValueRef,
)

__all__ = ["parse_condition_text", "parse_projection_text", "parse_update_text", "MAX_IN_OPERANDS", "MAX_UPDATE_OPERATORS",
           "MAX_CONDITION_OPERATORS"]

MAX_IN_OPERANDS = 100
MAX_UPDATE_OPERATORS = 300
MAX_CONDITION_OPERATORS = 300
MAX_PATH_DEPTH = 32

_COMPARATORS = frozenset(("=", "<>", "<", "<=", ">", ">="))
_CONDITION_KEYWORDS = frozenset(("AND", "OR", "NOT", "BETWEEN", "IN"))
_UPDATE_KEYWORDS = frozenset(("SET", "REMOVE", "ADD", "DELETE"))
_NO_KEYWORDS: frozenset[str] = frozenset()
_MISUSED = "The function is not allowed to be used this way in an expression; function: "

# Ranks of the text-only errors, lowest first, as DynamoDB picks among several.
_CONDITION_RANKS = ("parens", "unknown", "misused", "reserved", "in", "nesting")
_UPDATE_RANKS = ("reserved", "unknown", "section", "operators", "nesting")
_PROJECTION_RANKS = ("reserved", "nesting")
_MAX_LIST_INDEX = 2**31 - 1


class _Parser:
    """Token cursor plus the noted (not yet raised) errors."""

    __slots__ = ("text", "tokens", "pos", "notes", "keywords")

    def __init__(self, text: str, keywords: frozenset[str]) -> None:
        self.text = text
        self.tokens: list[Token] = tokenize(text)
        self.pos = 0
        self.notes: dict[str, str] = {}
        self.keywords = keywords

    def fail(self) -> NoReturn:
        raise ExpressionError(syntax_message(self.text, self.tokens, self.pos))

    def note(self, rank: str, message: str) -> None:
        self.notes.setdefault(rank, message)

    def raise_notes(self, ranks: tuple[str, ...]) -> None:
        for rank in ranks:
            if rank in self.notes:
                raise ExpressionError(self.notes[rank])

    def at_punct(self, punct: str) -> bool:
        tok = self.tokens[self.pos]
        return tok[0] == PUNCT and tok[1] == punct

    def expect(self, punct: str) -> None:
        if not self.at_punct(punct):
            self.fail()
        self.pos += 1

    def at_keyword(self, word: str) -> bool:
        tok = self.tokens[self.pos]
        return tok[0] == IDENT and tok[1].upper() == word

    def end(self) -> None:
        if self.tokens[self.pos][0] != EOF:
            self.fail()

    def element(self) -> PathElement:
        """One attribute name of a path: a placeholder or a bare (non-keyword) identifier."""
        kind, text, _, _ = self.tokens[self.pos]
        if kind == NAME:
            self.pos += 1
            return NameRef(text)
        if kind != IDENT or text.upper() in self.keywords:
            self.fail()
        if text.upper() in RESERVED_WORDS:
            self.note("reserved", "Attribute name is a reserved keyword; reserved keyword: " + text)
        self.pos += 1
        return text

    def path_tail(self, elements: list[PathElement]) -> Path:
        """The ``.name`` and ``[index]`` steps after a path's first element."""
        tokens = self.tokens
        while tokens[self.pos][0] == PUNCT:
            punct = tokens[self.pos][1]
            if punct == ".":
                self.pos += 1
                elements.append(self.element())
            elif punct == "[":
                self.pos += 1
                kind, text, _, _ = tokens[self.pos]
                if kind != NUMBER:
                    self.fail()
                self.pos += 1
                self.expect("]")
                index = int(text)
                if index > _MAX_LIST_INDEX:  # DynamoDB parses an index as a 32-bit int
                    raise ExpressionError(f"List index is not within the allowable range; index: [{text}]")
                elements.append(index)
            else:
                break
        if len(elements) > MAX_PATH_DEPTH:  # deeper paths would also recurse past Python's limit downstream
            self.note("nesting", f"The document path has too many nesting levels; nesting levels: {len(elements)}")
        return Path(tuple(elements))

    def path(self) -> Path:
        return self.path_tail([self.element()])

    def call_args(self, unit: Callable[[], Node]) -> tuple[Node, ...]:
        """``( arg, arg, ... )`` where each arg is parsed by ``unit``."""
        self.expect("(")
        args = [unit()]
        while self.at_punct(","):
            self.pos += 1
            args.append(unit())
        self.expect(")")
        return tuple(args)


class _ConditionParser(_Parser):
    """condition := or; or := and (OR and)*; and := not (AND not)*; not := NOT not | comparison."""

    def parse(self) -> Node:
        node, _ = self.disjunction()
        self.end()
        self.condition(node)
        self.raise_notes(_CONDITION_RANKS)
        return node

    def condition(self, node: Node) -> Node:
        """Require a condition where ``node`` stands; a bare operand there is a syntax error."""
        if isinstance(node, Call):
            if node.name in OPERAND_FUNCTIONS:
                self.note("misused", _MISUSED + node.name)
            return node
        if isinstance(node, (Path, ValueRef)):
            self.fail()
        return node

    def operand(self, node: Node) -> Node:
        """Require an operand where ``node`` stands; a condition function there is misused."""
        if isinstance(node, Call) and node.name in CONDITION_FUNCTIONS:
            self.note("misused", _MISUSED + node.name)
        return node

    def disjunction(self) -> tuple[Node, bool]:
        node, wrapped = self.conjunction()
        while self.at_keyword("OR"):
            self.condition(node)
            self.pos += 1
            right, _ = self.conjunction()
            node = Or(node, self.condition(right))
            wrapped = False
        return node, wrapped

    def conjunction(self) -> tuple[Node, bool]:
        node, wrapped = self.negation()
        while self.at_keyword("AND"):
            self.condition(node)
            self.pos += 1
            right, _ = self.negation()
            node = And(node, self.condition(right))
            wrapped = False
        return node, wrapped

    def negation(self) -> tuple[Node, bool]:
        if self.at_keyword("NOT"):
            self.pos += 1
            inner, _ = self.negation()
            return Not(self.condition(inner)), False
        return self.comparison()

    def comparison(self) -> tuple[Node, bool]:
        node, wrapped = self.primary()
        kind, text, _, _ = self.tokens[self.pos]
        if kind == PUNCT and text in _COMPARATORS:
            self.pos += 1
            self.require_operand(node)
            return Compare(text, self.operand(node), self.operand(self.unit()[0])), False
        if kind == IDENT:
            word = text.upper()
            if word == "BETWEEN":
                self.pos += 1
                self.require_operand(node)
                low = self.operand(self.unit()[0])
                if not self.at_keyword("AND"):
                    self.fail()
                self.pos += 1
                high = self.operand(self.unit()[0])
                return Between(self.operand(node), low, high), False
            if word == "IN":
                self.pos += 1
                self.require_operand(node)
                options = self.call_args(lambda: self.operand(self.unit()[0]))
                if len(options) > MAX_IN_OPERANDS:
                    self.note(
                        "in",
                        f"The IN operator is provided with too many operands; number of operands: {len(options)}",
                    )
                return In(self.operand(node), options), False
        return node, wrapped

    def require_operand(self, node: Node) -> None:
        """A comparison's left side must be an operand, not a condition built from operators."""
        if isinstance(node, (Compare, Between, In, And, Or, Not)):
            self.pos -= 1
            self.fail()

    def primary(self) -> tuple[Node, bool]:
        if self.at_punct("("):
            self.pos += 1
            inner, wrapped = self.disjunction()
            self.expect(")")
            if wrapped:
                self.note("parens", "The expression has redundant parentheses;")
            if isinstance(inner, Path) and self.tokens[self.pos][0] == PUNCT and self.tokens[self.pos][1] in ".[":
                inner = self.path_tail(list(inner.elements))
            return inner, True
        return self.bare_operand(), False

    def unit(self) -> tuple[Node, bool]:
        """An operand, possibly in parentheses (one pair; two is DynamoDB's redundant-parentheses error)."""
        if self.at_punct("("):
            self.pos += 1
            inner, wrapped = self.unit()
            self.expect(")")
            if wrapped:
                self.note("parens", "The expression has redundant parentheses;")
            if isinstance(inner, Path) and self.tokens[self.pos][0] == PUNCT and self.tokens[self.pos][1] in ".[":
                inner = self.path_tail(list(inner.elements))
            return inner, True
        return self.bare_operand(), False

    def bare_operand(self) -> Node:
        kind, text, _, _ = self.tokens[self.pos]
        if kind == VALUE:
            self.pos += 1
            return ValueRef(text)
        if kind == IDENT and text.upper() not in _CONDITION_KEYWORDS:
            nxt = self.tokens[self.pos + 1]
            if nxt[0] == PUNCT and nxt[1] == "(":
                self.pos += 1
                if text in UPDATE_FUNCTIONS and text not in OPERAND_FUNCTIONS:
                    self.note("unknown", "The function is not allowed in a condition expression; function: " + text)
                elif text not in CONDITION_FUNCTIONS and text not in OPERAND_FUNCTIONS:
                    self.note("unknown", "Invalid function name; function: " + text)
                args = self.call_args(lambda: self.operand(self.unit()[0]))
                return Call(text, args)
        return self.path()


class _UpdateParser(_Parser):
    """update := (SET set (, set)* | REMOVE path (, path)* | ADD path :v (, ...)* | DELETE path :v (, ...)*)+."""

    def parse(self) -> tuple[Action, ...]:
        actions: list[Action] = []
        seen: set[str] = set()
        operators = 0
        if self.tokens[self.pos][0] == EOF:
            self.fail()
        while self.tokens[self.pos][0] != EOF:
            kind, text, _, _ = self.tokens[self.pos]
            section = text.upper()
            if kind != IDENT or section not in _UPDATE_KEYWORDS:
                self.fail()
            self.pos += 1
            if section in seen:
                self.note("section", f'The "{section}" section can only be used once in an update expression;')
            seen.add(section)
            while True:
                actions.append(self.action(section))
                if not self.at_punct(","):
                    break
                self.pos += 1
        for action in actions:
            if isinstance(action, SetAction):
                operators += _count_operators(action.value)
        if operators > MAX_UPDATE_OPERATORS:
            self.note(
                "operators",
                f"The expression contains too many operators; operator count: {operators}, "
                f"maximum: {MAX_UPDATE_OPERATORS}",
            )
        self.raise_notes(_UPDATE_RANKS)
        return tuple(actions)

    def action(self, section: str) -> Action:
        path = self.path()
        if section == "SET":
            self.expect("=")
            return SetAction(path, self.set_value())
        if section == "REMOVE":
            return RemoveAction(path)
        kind, text, _, _ = self.tokens[self.pos]
        if kind != VALUE:
            self.fail()
        self.pos += 1
        if section == "ADD":
            return AddAction(path, ValueRef(text))
        return DeleteAction(path, ValueRef(text))

    def set_value(self) -> Node:
        """value := '(' value ')' | unit [('+' | '-') unit]."""
        if self.at_punct("("):
            self.pos += 1
            inner = self.set_value()
            self.expect(")")
            if isinstance(inner, Arithmetic):
                return inner
            left: Node = inner
        else:
            left = self.operand()
        if self.at_punct("+") or self.at_punct("-"):
            op = self.tokens[self.pos][1]
            self.pos += 1
            return Arithmetic(op, left, self.unit())
        return left

    def unit(self) -> Node:
        if self.at_punct("("):
            self.pos += 1
            inner = self.operand()
            self.expect(")")
            return inner
        return self.operand()

    def operand(self) -> Node:
        kind, text, _, _ = self.tokens[self.pos]
        if kind == VALUE:
            self.pos += 1
            return ValueRef(text)
        if kind == IDENT and text.upper() not in _UPDATE_KEYWORDS:
            nxt = self.tokens[self.pos + 1]
            if nxt[0] == PUNCT and nxt[1] == "(":
                self.pos += 1
                if text in CONDITION_FUNCTIONS or text in OPERAND_FUNCTIONS:
                    self.note("unknown", "The function is not allowed in an update expression; function: " + text)
                elif text not in UPDATE_FUNCTIONS:
                    self.note("unknown", "Invalid function name; function: " + text)
                return Call(text, self.call_args(self.unit))
        return self.path()


def _count_operators(node: Node) -> int:
    if isinstance(node, Arithmetic):
        return 1 + _count_operators(node.left) + _count_operators(node.right)
    if isinstance(node, Call):
        return 1 + sum(_count_operators(arg) for arg in node.args)
    return 0


def _condition_operators(tokens: list[Token]) -> int:
    """Operators of a condition, counted from its tokens alone (BETWEEN's AND is part of BETWEEN)."""
    count = 0
    for kind, text, _, _ in tokens:
        if kind == PUNCT:
            count += text in _COMPARATORS
        elif kind == IDENT:
            word = text.upper()
            if word in _CONDITION_KEYWORDS:
                count += word != "BETWEEN"
    return count


def _too_deep(text: str, tokens: list[Token], known: frozenset[str]) -> ExpressionError:
    """The error DynamoDB gives for a nesting deeper than this parser recurses (within 4 KB of text)."""
    for i, (kind, name, _, _) in enumerate(tokens[:-1]):
        nxt = tokens[i + 1]
        if kind == IDENT and nxt[0] == PUNCT and nxt[1] == "(" and name not in known:
            return ExpressionError("Invalid function name; function: " + name)
    if "((" in text.replace(" ", ""):
        return ExpressionError("The expression has redundant parentheses;")
    return ExpressionError("The expression is nested too deeply;")


_KNOWN_FUNCTIONS = CONDITION_FUNCTIONS | OPERAND_FUNCTIONS | UPDATE_FUNCTIONS


def parse_condition_text(text: str) -> Condition:
    """Parse a condition, filter or key-condition expression (raises ExpressionError)."""
    parser = _ConditionParser(text, _CONDITION_KEYWORDS)
    operators = _condition_operators(parser.tokens)
    if operators > MAX_CONDITION_OPERATORS:
        raise ExpressionError(f"The expression contains too many operators; operator count: {operators}")
    try:
        return Condition(parser.parse(), text)
    except RecursionError:
        raise _too_deep(text, parser.tokens, _KNOWN_FUNCTIONS) from None


def parse_projection_text(text: str) -> Projection:
    """Parse a projection expression: comma-separated document paths."""
    parser = _Parser(text, _NO_KEYWORDS)
    paths = [parser.path()]
    while parser.at_punct(","):
        parser.pos += 1
        paths.append(parser.path())
    parser.end()
    parser.raise_notes(_PROJECTION_RANKS)
    refs = tuple(dict.fromkeys(e.ref for p in paths for e in p.elements if isinstance(e, NameRef)))
    return Projection(tuple(paths), text, refs)


def parse_update_text(text: str) -> Update:
    """Parse an update expression."""
    parser = _UpdateParser(text, _UPDATE_KEYWORDS)
    try:
        return Update(parser.parse(), text)
    except RecursionError:
        raise _too_deep(text, parser.tokens, _KNOWN_FUNCTIONS) from None
