"""Per-access-key IAM policies (``[server] policies = FILE``), decided once per request before the cache.

    policies file ──load_policies()──▶ PolicySet (documents checked and compiled at startup)
    request ──Enforcer.authorize()──▶ targets (action, table/index ARN, item keys) ──▶ Decision per target

Modules: ``patterns`` (IAM wildcards), ``conditions`` (condition operators and keys), ``document``
(parsing and validation), ``decision`` (Deny wins, then Allow, else implicit deny), ``requests`` (what a
DynamoDB request touches), ``enforce`` (the api-boundary check and AccessDeniedException).
"""

from __future__ import annotations

from pathlib import Path

from accelerator.policy.decision import Decision, PolicySet
from accelerator.policy.document import PolicyError, load_policy_file, parse_document
from accelerator.policy.enforce import Enforcer, denied
from accelerator.policy.requests import principal_arn, table_arn

__all__ = ["Decision", "Enforcer", "PolicyError", "PolicySet", "denied", "load_policies", "parse_document",
           "principal_arn", "table_arn"]


def load_policies(path: str | Path | None) -> PolicySet:
    """The PolicySet for a policies file (None: no file, every key has full access)."""
    return PolicySet(None if path is None else load_policy_file(path))
