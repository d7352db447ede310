"""IAM Condition blocks: the string operators with ForAllValues / ForAnyValue / IfExists, and Null.

A request context maps a condition key to a tuple of strings. A key the request does not carry is absent;
a key whose values this server cannot know for the request (``UNKNOWN``: the partition key of a Scan, the
attributes of a whole-item read) fails closed: the condition is false in an Allow statement and true in a
Deny statement, so an unknown value never grants access and never escapes a deny.
"""

from __future__ import annotations

from typing import Any, Protocol

from accelerator.policy.patterns import Pattern

__all__ = ["UNKNOWN", "CONDITION_KEYS", "Context", "ConditionTest", "compile_condition", "ConditionError"]


class _Unknown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


class Context(Protocol):
    """Condition key -> tuple of strings, UNKNOWN, or None when the request does not carry the key."""

    def get(self, key: str, /) -> Any: ...

CONDITION_KEYS = {k.lower(): k for k in ("dynamodb:LeadingKeys", "dynamodb:Attributes", "dynamodb:Select",
                                         "dynamodb:ReturnValues", "dynamodb:ReturnConsumedCapacity")}
"""The keys this server fills in (IAM matches key names without regard to case)."""

_BASE = {"stringequals", "stringnotequals", "stringequalsignorecase", "stringnotequalsignorecase",
         "stringlike", "stringnotlike", "null"}
_SPELLING = {"stringequals": "StringEquals", "stringnotequals": "StringNotEquals",
             "stringequalsignorecase": "StringEqualsIgnoreCase", "stringnotequalsignorecase": "StringNotEqualsIgnoreCase",
             "stringlike": "StringLike", "stringnotlike": "StringNotLike", "null": "Null"}


class ConditionError(ValueError):
    """A Condition block this server cannot evaluate (the message says which part)."""


class ConditionTest:
    """One (operator, key, values) test, compiled."""

    __slots__ = ("key", "qualifier", "if_exists", "negated", "null", "want_null", "exact", "folded", "pattern")

    def __init__(self, operator: str, key: str, values: list[str]) -> None:
        qualifier, _, base = operator.rpartition(":")
        base_l = base.lower()
        self.if_exists = base_l.endswith("ifexists")
        if self.if_exists:
            base_l = base_l[: -len("ifexists")]
        if base_l not in _BASE:
            raise ConditionError(f"unsupported condition operator {operator!r} (supported: "
                                 f"{', '.join(sorted(_SPELLING.values()))}, with IfExists, ForAllValues:, "
                                 "ForAnyValue:)")
        self.qualifier = qualifier.lower()
        if self.qualifier not in ("", "forallvalues", "foranyvalue"):
            raise ConditionError(f"unsupported set operator {qualifier!r} (ForAllValues or ForAnyValue)")
        self.key = key
        self.negated = "not" in base_l
        self.null = base_l == "null"
        self.want_null = False
        if self.null:
            if len(values) != 1 or values[0].lower() not in ("true", "false"):
                raise ConditionError(f"Null on {key} takes \"true\" or \"false\"")
            self.want_null = values[0].lower() == "true"
        ignore_case = base_l.endswith("ignorecase")
        self.folded = ignore_case
        self.exact = frozenset(v.lower() for v in values) if ignore_case else frozenset(values)
        self.pattern = Pattern(values) if "like" in base_l else None

    def _positive(self, value: str) -> bool:
        if self.pattern is not None:
            return self.pattern.match(value)
        return (value.lower() if self.folded else value) in self.exact

    def holds(self, context: Context, deny: bool) -> bool:
        """Whether the test holds for a request context (``deny``: it guards a Deny statement)."""
        values = context.get(self.key)
        if self.null:
            return (values is None) == self.want_null
        if values is UNKNOWN:
            return deny
        if not values:  # the request does not carry the key
            if self.qualifier == "forallvalues":
                return True
            if self.qualifier == "foranyvalue":
                return False
            return self.if_exists or self.negated
        if self.qualifier == "forallvalues":
            if self.pattern is None and not self.folded:  # the usual allow-list: one set operation
                return self.exact.isdisjoint(values) if self.negated else self.exact.issuperset(values)
            return all(self._positive(v) != self.negated for v in values)
        if self.qualifier == "foranyvalue":
            return any(self._positive(v) != self.negated for v in values)
        # No set operator on a multivalued key (IAM requires one): fail closed, every value must pass in an
        # Allow, any value that passes makes a Deny apply.
        passes = (self._positive(v) != self.negated for v in values)
        return any(passes) if deny else all(passes)


def compile_condition(block: Any) -> tuple[ConditionTest, ...]:
    """The tests of a statement's Condition block (all must hold)."""
    if not isinstance(block, dict):
        raise ConditionError("Condition must be an object of operator -> {key: values}")
    tests = []
    for operator, pairs in block.items():
        if not isinstance(pairs, dict) or not pairs:
            raise ConditionError(f"Condition {operator!r} must be a non-empty object of key -> values")
        for key, raw in pairs.items():
            canonical = CONDITION_KEYS.get(str(key).lower())
            if canonical is None:
                raise ConditionError(f"unsupported condition key {key!r} (supported: "
                                     f"{', '.join(CONDITION_KEYS.values())})")
            values = raw if isinstance(raw, list) else [raw]
            if not values or not all(isinstance(v, (str, bool)) for v in values):
                raise ConditionError(f"values of {operator} {key} must be a string or a non-empty list of strings")
            texts = [str(v).lower() if isinstance(v, bool) else v for v in values]
            if any("${" in v for v in texts):
                raise ConditionError(f"policy variables such as {next(v for v in texts if '${' in v)!r} are not "
                                     "supported")
            tests.append(ConditionTest(operator, canonical, texts))
    return tuple(tests)
