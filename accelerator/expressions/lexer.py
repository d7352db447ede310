"""The tokenizer shared by every expression kind: one compiled regex, tokens as plain tuples.

DynamoDB's lexer knows attribute-name placeholders (``#x``), value placeholders (``:x``), identifiers
(a letter, then letters, digits or ``_``), unsigned integers (list indexes only), and the punctuation of
the grammars. Anything else becomes a one-character token that no grammar accepts, so it surfaces as
DynamoDB's ``Syntax error; token: "_", near: "SET _123"`` instead of a lexer failure.
"""

from __future__ import annotations

import re

__all__ = ["EOF", "NAME", "VALUE", "IDENT", "NUMBER", "PUNCT", "OTHER", "Token", "tokenize", "syntax_message"]

EOF, NAME, VALUE, IDENT, NUMBER, PUNCT, OTHER = range(7)

# (kind, text, start, end): tuples, because the cold parse of a fresh expression builds many of them.
Token = tuple[int, str, int, int]

# The group number is the token kind; whitespace is only what DynamoDB skips (not every Unicode space),
# and it is skipped possessively so that trailing blanks never become a one-character token.
_TOKEN_RE = re.compile(
    r"[ \t\r\n]*+(?:"
    r"(#[A-Za-z0-9_]+)"
    r"|(:[A-Za-z0-9_]+)"
    r"|([A-Za-z][A-Za-z0-9_]*)"
    r"|([0-9]+)"
    r"|(<>|<=|>=|[=<>(),.\[\]+\-])"
    r"|(.))",
    re.S,
)


def tokenize(text: str) -> list[Token]:
    """Split an expression into tokens, ending with an EOF token."""
    out: list[Token] = []
    match = _TOKEN_RE.match
    pos = 0
    while (m := match(text, pos)) is not None:
        kind = m.lastindex
        assert kind is not None
        out.append((kind, m.group(kind), m.start(kind), m.end()))
        pos = m.end()
    end = len(text)
    out.append((EOF, "<EOF>", end, end))
    return out


def syntax_message(text: str, tokens: list[Token], index: int) -> str:
    """DynamoDB's syntax-error text: the offending token and the source from the token before to the one after."""
    kind, tok, start, end = tokens[index]
    if index > 0:
        start = tokens[index - 1][2]
    if kind != EOF and index + 1 < len(tokens) and tokens[index + 1][0] != EOF:
        end = tokens[index + 1][3]
    elif kind == EOF and index > 0:
        end = tokens[index - 1][3]
    return f'Syntax error; token: "{tok}", near: "{text[start:end]}"'
