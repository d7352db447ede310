"""The decision: explicit Deny wins, then any Allow, else the implicit deny.

Which statements cover an (action, resource) pair does not depend on the request, so it is worked out
once per pair and kept; a pair whose covering statements have no conditions keeps its final decision, and
the hot path (a GetItem on a table the key may read) costs one dictionary lookup.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping

from accelerator.policy.conditions import Context
from accelerator.policy.document import Statement

__all__ = ["Decision", "Policy", "PolicySet", "Applicable"]

_MAX_PAIRS = 4096  # (action, resource) pairs remembered per key; names come from requests, so it is bounded


class Decision(enum.Enum):
    ALLOW = "allow"
    IMPLICIT_DENY = "implicit"
    EXPLICIT_DENY = "explicit"


class Applicable:
    """The statements covering one (action, resource) pair, and the decision if it needs no context."""

    __slots__ = ("statements", "keys", "fixed")

    def __init__(self, statements: tuple[Statement, ...]) -> None:
        self.statements = statements
        self.keys: frozenset[str] = frozenset().union(*(s.keys for s in statements))
        self.fixed: Decision | None = None
        if any(s.deny and not s.conditions for s in statements):
            self.fixed = Decision.EXPLICIT_DENY
        elif not statements:
            self.fixed = Decision.IMPLICIT_DENY
        elif not self.keys and not any(s.deny for s in statements):
            self.fixed = Decision.ALLOW

    def decide(self, context: Context) -> Decision:
        """The decision for a request context holding (at least) the keys in ``keys``."""
        if self.fixed is not None:
            return self.fixed
        allowed = False
        for s in self.statements:
            if s.deny or not allowed:
                deny = s.deny
                for test in s.conditions:
                    if not test.holds(context, deny):
                        break
                else:
                    if deny:
                        return Decision.EXPLICIT_DENY
                    allowed = True
        return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


class Policy:
    """One access key's compiled statements."""

    __slots__ = ("statements", "_pairs")

    def __init__(self, statements: tuple[Statement, ...]) -> None:
        self.statements = statements
        self._pairs: dict[tuple[str, str], Applicable] = {}

    def applicable(self, action: str, resource: str) -> Applicable:
        """The statements covering this pair (remembered)."""
        pair = (action, resource)
        found = self._pairs.get(pair)
        if found is None:
            found = Applicable(tuple(s for s in self.statements if s.covers(action, resource)))
            if len(self._pairs) >= _MAX_PAIRS:
                self._pairs.clear()
            self._pairs[pair] = found
        return found


class PolicySet:
    """Access key id -> Policy. Without a policies file every key has full access; with one, a key the
    file does not name has none."""

    __slots__ = ("policies", "configured")

    def __init__(self, policies: Mapping[str, tuple[Statement, ...]] | None = None) -> None:
        self.configured = policies is not None
        self.policies = {key: Policy(s) for key, s in (policies or {}).items()}

    def decide(self, principal: str | None, action: str, resource: str,
               context: Callable[[frozenset[str]], Context] | None = None) -> Decision:
        """The decision; ``context(keys)`` builds the request context when conditions need one."""
        if not self.configured:
            return Decision.ALLOW
        policy = self.policies.get(principal) if principal is not None else None
        if policy is None:
            return Decision.IMPLICIT_DENY
        applicable = policy.applicable(action, resource)
        if applicable.fixed is not None:
            return applicable.fixed
        return applicable.decide(context(applicable.keys) if context is not None else {})

    def allowed(self, principal: str | None, action: str, resource: str) -> bool:
        """Whether a request-independent action (an admin route, say) is allowed: no condition context."""
        return self.decide(principal, action, resource) is Decision.ALLOW
