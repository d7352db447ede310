"""IAM wildcard patterns (``*`` any run of characters, ``?`` one character), compiled once at load."""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["Pattern"]


class Pattern:
    """Several IAM wildcard patterns matched at once: a set lookup for literals, one regex for the rest."""

    __slots__ = ("literals", "regex", "any", "ignore_case")

    def __init__(self, patterns: Iterable[str], ignore_case: bool = False) -> None:
        literals: set[str] = set()
        wild: list[str] = []
        for p in patterns:
            if "*" in p or "?" in p:
                wild.append("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in p))
            else:
                literals.add(p.lower() if ignore_case else p)
        self.ignore_case = ignore_case
        self.any = ".*" in wild
        self.literals = frozenset(literals)
        flags = re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL
        self.regex = re.compile("(?:" + "|".join(wild) + r")\Z", flags) if wild else None

    def match(self, text: str) -> bool:
        """Whether ``text`` matches one of the patterns."""
        if self.any or (text.lower() if self.ignore_case else text) in self.literals:
            return True
        return self.regex is not None and self.regex.match(text) is not None
