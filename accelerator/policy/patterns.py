"""IAM wildcard patterns (``*`` any run of characters, ``?`` one character), compiled once at load."""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["Pattern"]


class Pattern:
    """Several IAM wildcard patterns matched at once: a set lookup for literals, one regex for the rest."""

    __slots__ = ("literals", "prefixes", "regex", "any", "ignore_case")

    def __init__(self, patterns: Iterable[str], ignore_case: bool = False) -> None:
        literals: set[str] = set()
        prefixes: list[str] = []
        wild: list[str] = []
        for p in patterns:
            folded = p.lower() if ignore_case else p
            if "*" not in p and "?" not in p:
                literals.add(folded)
            elif p.endswith("*") and "*" not in p[:-1] and "?" not in p:
                prefixes.append(folded[:-1])  # "user#*", "dynamodb:Get*": a startswith, no regex
            else:
                wild.append("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in p))
        self.ignore_case = ignore_case
        self.any = "" in prefixes
        self.literals = frozenset(literals)
        self.prefixes = tuple(prefixes)
        flags = re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL
        self.regex = re.compile("(?:" + "|".join(wild) + r")\Z", flags) if wild else None

    def match(self, text: str) -> bool:
        """Whether ``text`` matches one of the patterns."""
        if self.any:
            return True
        folded = text.lower() if self.ignore_case else text
        if folded in self.literals or (self.prefixes and folded.startswith(self.prefixes)):
            return True
        return self.regex is not None and self.regex.match(text) is not None
