"""The ARN of an export or an import, checked as DynamoDB checks it before looking the job up.

Not an ARN, or the ARN of something other than a job of that kind (a table's, an index's, a job under a table
name DynamoDB would refuse), is ValidationException "Invalid Export ARN" / "Invalid Import ARN". An ARN of
another partition, service, region or account is one the caller may not read: AccessDeniedException. Only a
well-formed ARN goes on to the lookup, whose miss is ExportNotFoundException / ImportNotFoundException.
"""

from __future__ import annotations

import re

from accelerator.core.errors import AccessDeniedException, ValidationException

__all__ = ["check_job_arn"]

_ARN = re.compile(r"arn:([^:]*):([^:]*):([^:]*):([^:]*):(.*)", re.DOTALL)
_REGION = re.compile(r"ddblocal|[a-z]{2}(-[a-z]+)+-[0-9]+")  # this server's ARNs, or an AWS-shaped region
_ACCOUNT = re.compile(r"[0-9]{12}")
_TABLE = r"table/[a-zA-Z0-9_.-]{3,255}"


def check_job_arn(arn: str, kind: str) -> None:
    """Raise DynamoDB's error for an ``kind`` ("export" or "import") ARN that cannot name such a job."""
    invalid = f"Invalid {kind.capitalize()} ARN"
    match = _ARN.fullmatch(arn)
    if match is None:
        raise ValidationException(invalid)
    partition, service, region, account, resource = match.groups()
    if (partition, service) != ("aws", "dynamodb") or not _REGION.fullmatch(region) or not _ACCOUNT.fullmatch(account):
        raise AccessDeniedException("Access is denied")
    if not re.fullmatch(rf"{_TABLE}/{kind}/[^/]+", resource):
        raise ValidationException(invalid)
