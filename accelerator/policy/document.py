"""Policy documents: the policies file (access key id -> IAM policy document) read, checked and compiled.

Every mistake is one ``PolicyError`` line naming the file, the access key and the element, raised at
startup; nothing half-understood is ever enforced.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accelerator.policy.conditions import ConditionError, ConditionTest, compile_condition
from accelerator.policy.patterns import Pattern
from accelerator.policy.requests import ACCOUNT, REGION

__all__ = ["PolicyError", "Statement", "parse_document", "load_policy_file", "foreign_resources", "VERSIONS"]

log = logging.getLogger("accelerator.policy")

VERSIONS = ("2012-10-17", "2008-10-17")
_ACTION = re.compile(r"\A(\*|[A-Za-z0-9-]+:[A-Za-z0-9*?]+)\Z")
_STATEMENT_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}


class PolicyError(ValueError):
    """A policies file or document this server will not enforce."""


@dataclass(frozen=True, slots=True)
class Statement:
    """One compiled statement: which actions and resources it covers, its effect and its conditions."""

    sid: str
    deny: bool
    actions: Pattern
    not_action: bool
    resources: Pattern
    not_resource: bool
    conditions: tuple[ConditionTest, ...]
    keys: frozenset[str]
    """The condition keys its conditions read."""

    def covers(self, action: str, resource: str) -> bool:
        """Whether the statement applies to this action on this resource (conditions aside)."""
        return (self.actions.match(action) != self.not_action
                and self.resources.match(resource) != self.not_resource)


def _strings(value: Any, what: str) -> list[str]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and v for v in values):
        raise PolicyError(f"{what} must be a non-empty string or list of non-empty strings")
    return values


def _statement(raw: Any, where: str) -> Statement:
    if not isinstance(raw, dict):
        raise PolicyError(f"{where} must be an object")
    if "Principal" in raw or "NotPrincipal" in raw:
        raise PolicyError(f"{where}: Principal is not allowed in an identity-based policy (the access key is the "
                          "principal)")
    unknown = set(raw) - _STATEMENT_KEYS
    if unknown:
        raise PolicyError(f"{where}: unknown element(s) {', '.join(sorted(unknown))}")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f"{where}.Effect must be \"Allow\" or \"Deny\", not {effect!r}")
    if ("Action" in raw) == ("NotAction" in raw):
        raise PolicyError(f"{where} needs exactly one of Action or NotAction")
    if ("Resource" in raw) == ("NotResource" in raw):
        raise PolicyError(f"{where} needs exactly one of Resource or NotResource")
    action_key = "Action" if "Action" in raw else "NotAction"
    actions = _strings(raw[action_key], f"{where}.{action_key}")
    for action in actions:
        if not _ACTION.match(action):
            raise PolicyError(f"{where}.{action_key}: {action!r} is not \"service:Action\" (wildcards * and ? "
                              "allowed) or \"*\"")
    resource_key = "Resource" if "Resource" in raw else "NotResource"
    resources = _strings(raw[resource_key], f"{where}.{resource_key}")
    for resource in resources:
        if resource != "*" and not resource.startswith("arn:"):
            raise PolicyError(f"{where}.{resource_key}: {resource!r} is neither an ARN nor \"*\"")
    try:
        conditions = compile_condition(raw["Condition"]) if "Condition" in raw else ()
    except ConditionError as exc:
        raise PolicyError(f"{where}.Condition: {exc}") from None
    sid = raw.get("Sid", "")
    if not isinstance(sid, str):
        raise PolicyError(f"{where}.Sid must be a string")
    return Statement(sid=sid, deny=effect == "Deny", actions=Pattern(actions, ignore_case=True),
                     not_action=action_key == "NotAction", resources=Pattern(resources),
                     not_resource=resource_key == "NotResource", conditions=conditions,
                     keys=frozenset(t.key for t in conditions))


def parse_document(document: Any) -> tuple[Statement, ...]:
    """Check and compile one policy document; PolicyError (without file or key) on the first mistake."""
    if not isinstance(document, dict):
        raise PolicyError("the policy document must be a JSON object")
    unknown = set(document) - {"Version", "Id", "Statement"}
    if unknown:
        raise PolicyError(f"unknown element(s) {', '.join(sorted(unknown))}")
    version = document.get("Version", "2008-10-17")
    if version not in VERSIONS:
        raise PolicyError(f"Version must be one of {', '.join(VERSIONS)}, not {version!r}")
    raw = document.get("Statement")
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise PolicyError("Statement must be an object or a non-empty list of objects")
    return tuple(_statement(s, f"Statement[{i}]") for i, s in enumerate(raw))


def load_policy_file(path: str | Path) -> dict[str, tuple[Statement, ...]]:
    """Access key id -> compiled statements, from a JSON file; PolicyError names the file and key."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"policies file {path}: cannot read it: {exc}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError(f"policies file {path}: not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise PolicyError(f"policies file {path}: must be a JSON object mapping access key id -> policy document")
    compiled = {}
    for key, document in raw.items():
        try:
            compiled[key] = parse_document(document)
        except PolicyError as exc:
            raise PolicyError(f"policies file {path}: access key {key!r}: {exc}") from None
        unsafe = _fail_open(document)
        if unsafe is not None:
            raise PolicyError(f"policies file {path}: access key {key!r}: {unsafe}")
        for resource in foreign_resources(document):  # an AWS policy pasted as is: say why it never matches
            log.warning("policies file %s: access key %r: Resource %s never matches: this server's ARNs are "
                        "arn:aws:dynamodb:%s:%s:table/NAME (write * for the region and the account)",
                        path, key, resource, REGION, ACCOUNT)
    return compiled


def foreign_resources(document: dict[str, Any]) -> list[str]:
    """The DynamoDB resource patterns of a (valid) document whose region or account is not this server's."""
    return [resource for _, _, resource in _foreign(document)]


def _foreign(document: dict[str, Any]) -> list[tuple[int, dict[str, Any], str]]:
    """(statement index, statement, resource pattern) of each pattern naming another region or account."""
    statements = document["Statement"]
    found = []
    for i, statement in enumerate([statements] if isinstance(statements, dict) else statements):
        raw = statement["Resource"] if "Resource" in statement else statement["NotResource"]
        resources: list[str] = raw if isinstance(raw, list) else [raw]
        for resource in resources:
            parts = resource.split(":", 5)
            if len(parts) == 6 and parts[2] == "dynamodb" and not (
                    Pattern([parts[3]]).match(REGION) and Pattern([parts[4]]).match(ACCOUNT)):
                found.append((i, statement, resource))
    return found


def _fail_open(document: dict[str, Any]) -> str | None:
    """Why a foreign pattern would widen access, or None. A Deny on a Resource that never matches denies
    nothing, and an Allow on a NotResource that never matches allows the resource it meant to leave out:
    an AWS policy pasted as is would silently lose its restriction, so it is refused rather than warned of."""
    for i, statement, resource in _foreign(document):
        deny = statement.get("Effect") == "Deny"
        element = "Resource" if "Resource" in statement else "NotResource"
        if deny == (element == "Resource"):
            effect = "denies nothing" if deny else f"allows {resource.rpartition(':')[2]} too"
            return (f"Statement[{i}].{element}: {resource} never matches this server's ARNs "
                    f"(arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/NAME), so this {statement.get('Effect')} "
                    f"{effect}: write * for the region and the account")
    return None
