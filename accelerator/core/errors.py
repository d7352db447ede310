"""DynamoDB's error types, one to one with the wire ``__type``.

    DynamoError                      (type, message, HTTP status)
    ├── ValidationException          400, bad request shape or value
    ├── SerializationException       400, body is not the JSON it should be
    ├── UnknownOperationException    400, X-Amz-Target names no operation
    ├── MissingAuthenticationTokenException 400, no SigV4 Authorization header
    ├── IncompleteSignatureException 400, an Authorization header lacking parts, a malformed date
    ├── InvalidSignatureException    400, a signature that does not verify, out of its time window
    ├── UnrecognizedClientException  400, an access key the server does not know
    ├── AccessDeniedException        400, a ResourceArn that names nothing this account can reach
    ├── ResourceNotFoundException    400
    ├── ResourceInUseException       400
    ├── ConditionalCheckFailedException 400, may carry the old item
    ├── TransactionCanceledException 400, carries CancellationReasons
    ├── TransactionConflictException 400
    ├── IdempotentParameterMismatchException 400
    ├── ProvisionedThroughputExceededException 400 (retryable)
    ├── ThrottlingException          400 (retryable)
    ├── LimitExceededException       400
    ├── Backup*/Table*/PointInTime*/InvalidRestoreTime/ContinuousBackups*/Export*/Import* 400 (backups, PITR, export)
    ├── RequestLimitExceeded         400 (retryable)
    ├── ExpiredIteratorException     400, a Streams shard iterator older than 15 minutes
    ├── TrimmedDataAccessException   400, a Streams read before the retention horizon
    ├── InternalServerError          500 (retryable)
    └── ServiceUnavailable           503 (retryable)

Backends translate their driver errors into ``BackendUnavailable`` (a ServiceUnavailable) at their boundary.
The storage contract's own outcomes are not wire errors and carry no DynamoDB wording; the engine words them:

    StorageError
    ├── TableMissing                 the storage table does not exist (it may be an index's internal name)
    └── TableExists                  create_table of a name already in use
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AWS_PREFIX",
    "DynamoError",
    "ValidationException",
    "SerializationException",
    "UnknownOperationException",
    "MissingAuthenticationTokenException",
    "IncompleteSignatureException",
    "InvalidSignatureException",
    "UnrecognizedClientException",
    "AccessDeniedException",
    "ResourceNotFoundException",
    "ResourceInUseException",
    "ConditionalCheckFailedException",
    "TransactionCanceledException",
    "TransactionConflictException",
    "TransactionInProgressException",
    "IdempotentParameterMismatchException",
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "LimitExceededException",
    "BackupNotFoundException",
    "BackupInUseException",
    "TableNotFoundException",
    "TableAlreadyExistsException",
    "TableInUseException",
    "PointInTimeRecoveryUnavailableException",
    "InvalidRestoreTimeException",
    "ContinuousBackupsUnavailableException",
    "ExportNotFoundException",
    "InvalidExportTimeException",
    "ExportConflictException",
    "ImportNotFoundException",
    "ImportConflictException",
    "RequestLimitExceeded",
    "ItemCollectionSizeLimitExceededException",
    "ExpiredIteratorException",
    "TrimmedDataAccessException",
    "InternalServerError",
    "ServiceUnavailable",
    "BackendUnavailable",
    "ConditionFailed",
    "StorageError",
    "TableMissing",
    "TableExists",
]

AWS_PREFIX = "com.amazonaws.dynamodb.v20120810#"
_CORAL_PREFIX = "com.amazon.coral.validate#"
_CORAL_SERVICE_PREFIX = "com.amazon.coral.service#"


class DynamoError(Exception):
    """An error with DynamoDB's wire type, message and HTTP status."""

    type_name: str = "InternalServerError"
    prefix: str = AWS_PREFIX
    status: int = 400
    retryable: bool = False

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def to_wire(self) -> dict[str, Any]:
        """The JSON body DynamoDB sends for this error (no message member when it has none, as DynamoDB)."""
        if not self.message:
            return {"__type": self.prefix + self.type_name}
        return {"__type": self.prefix + self.type_name, "message": self.message}


class ValidationException(DynamoError):
    type_name = "ValidationException"
    prefix = _CORAL_PREFIX


class SerializationException(DynamoError):
    type_name = "SerializationException"
    prefix = _CORAL_SERVICE_PREFIX


class UnknownOperationException(DynamoError):
    type_name = "UnknownOperationException"
    prefix = _CORAL_SERVICE_PREFIX


class MissingAuthenticationTokenException(DynamoError):
    type_name = "MissingAuthenticationTokenException"
    prefix = _CORAL_SERVICE_PREFIX


class IncompleteSignatureException(DynamoError):
    type_name = "IncompleteSignatureException"
    prefix = _CORAL_SERVICE_PREFIX


class InvalidSignatureException(DynamoError):
    type_name = "InvalidSignatureException"
    prefix = _CORAL_SERVICE_PREFIX


class UnrecognizedClientException(DynamoError):
    type_name = "UnrecognizedClientException"
    prefix = _CORAL_SERVICE_PREFIX


class AccessDeniedException(DynamoError):
    type_name = "AccessDeniedException"
    prefix = _CORAL_SERVICE_PREFIX


class ResourceNotFoundException(DynamoError):
    type_name = "ResourceNotFoundException"


class ResourceInUseException(DynamoError):
    type_name = "ResourceInUseException"


class ConditionalCheckFailedException(DynamoError):
    type_name = "ConditionalCheckFailedException"

    def __init__(self, message: str = "The conditional request failed", item: dict[str, Any] | None = None):
        super().__init__(message)
        self.item = item

    def to_wire(self) -> dict[str, Any]:
        body = super().to_wire()
        if self.item is not None:
            body["Item"] = self.item
        return body


class TransactionCanceledException(DynamoError):
    type_name = "TransactionCanceledException"

    def __init__(self, reasons: list[dict[str, Any]]) -> None:
        codes = ", ".join(r.get("Code", "None") for r in reasons)
        super().__init__(f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]")
        self.reasons = reasons

    def to_wire(self) -> dict[str, Any]:
        body = super().to_wire()
        body["CancellationReasons"] = self.reasons
        return body


class TransactionConflictException(DynamoError):
    type_name = "TransactionConflictException"
    retryable = True


class TransactionInProgressException(DynamoError):
    type_name = "TransactionInProgressException"
    retryable = True


class IdempotentParameterMismatchException(DynamoError):
    type_name = "IdempotentParameterMismatchException"


class ProvisionedThroughputExceededException(DynamoError):
    type_name = "ProvisionedThroughputExceededException"
    retryable = True


class ThrottlingException(DynamoError):
    type_name = "ThrottlingException"
    prefix = _CORAL_SERVICE_PREFIX
    retryable = True


class LimitExceededException(DynamoError):
    type_name = "LimitExceededException"


class BackupNotFoundException(DynamoError):
    type_name = "BackupNotFoundException"


class BackupInUseException(DynamoError):
    type_name = "BackupInUseException"


class TableNotFoundException(DynamoError):
    type_name = "TableNotFoundException"


class TableAlreadyExistsException(DynamoError):
    type_name = "TableAlreadyExistsException"


class TableInUseException(DynamoError):
    type_name = "TableInUseException"


class PointInTimeRecoveryUnavailableException(DynamoError):
    type_name = "PointInTimeRecoveryUnavailableException"


class InvalidRestoreTimeException(DynamoError):
    type_name = "InvalidRestoreTimeException"


class ContinuousBackupsUnavailableException(DynamoError):
    type_name = "ContinuousBackupsUnavailableException"


class ExportNotFoundException(DynamoError):
    type_name = "ExportNotFoundException"


class InvalidExportTimeException(DynamoError):
    type_name = "InvalidExportTimeException"


class ExportConflictException(DynamoError):
    type_name = "ExportConflictException"


class ImportNotFoundException(DynamoError):
    type_name = "ImportNotFoundException"


class ImportConflictException(DynamoError):
    type_name = "ImportConflictException"


class RequestLimitExceeded(DynamoError):
    type_name = "RequestLimitExceeded"
    retryable = True


class ItemCollectionSizeLimitExceededException(DynamoError):
    type_name = "ItemCollectionSizeLimitExceededException"


class ExpiredIteratorException(DynamoError):
    type_name = "ExpiredIteratorException"


class TrimmedDataAccessException(DynamoError):
    type_name = "TrimmedDataAccessException"


class InternalServerError(DynamoError):
    type_name = "InternalServerError"
    status = 500
    retryable = True


class ServiceUnavailable(DynamoError):
    type_name = "ServiceUnavailable"
    prefix = _CORAL_SERVICE_PREFIX
    status = 503
    retryable = True


class BackendUnavailable(ServiceUnavailable):
    """The storage backend cannot be reached; the client should retry."""


class ConditionFailed(Exception):
    """Raised inside an atomic unit's ``apply`` to abort it without writing (not a wire error)."""

    def __init__(self, payload: Any = None) -> None:
        super().__init__("condition failed")
        self.payload = payload


class StorageError(Exception):
    """An outcome of the storage contract, for the engine to word; it never reaches the wire as it is."""


class TableMissing(StorageError):
    """The storage table ``table`` does not exist."""

    def __init__(self, table: str) -> None:
        super().__init__(f"storage table {table!r} does not exist")
        self.table = table


class TableExists(StorageError):
    """The storage table ``table`` exists already."""

    def __init__(self, table: str) -> None:
        super().__init__(f"storage table {table!r} exists already")
        self.table = table
