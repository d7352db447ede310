"""Shapes of the backup, point-in-time recovery, export and import operations (botocore's constraints)."""

from __future__ import annotations

import re
from typing import Any

from accelerator.api.shapes import ANY, BOOL, INT, LIST, MAP, STR, Field, Shape, enum, table_name
from accelerator.core.errors import SerializationException

__all__ = ["SHAPES", "TIMESTAMPS"]

_TABLE_ARN = Field(STR, required=True, min_len=1, max_len=1024)
_BACKUP_ARN = Field(STR, required=True, min_len=37, max_len=1024)
_NAME = re.compile(r"[a-zA-Z0-9_.-]+\Z")
_OWNER = re.compile(r"[0-9]{12}\Z")
_TOKEN = re.compile(r"^[^\$]+$\Z")
_THROUGHPUT = Field(MAP, shape=Shape({"ReadCapacityUnits": Field(INT, required=True, minimum=1),
                                      "WriteCapacityUnits": Field(INT, required=True, minimum=1)}))
_KEY = Field(LIST, required=True, min_len=1, items=Field(MAP, shape=Shape({
    "AttributeName": Field(STR, required=True, min_len=1, max_len=255),
    "KeyType": enum("HASH", "RANGE", required=True)})))
_PROJECTION = Field(MAP, required=True, shape=Shape({
    "ProjectionType": enum("ALL", "KEYS_ONLY", "INCLUDE"),
    "NonKeyAttributes": Field(LIST, min_len=1, max_len=20, items=Field(STR, min_len=1, max_len=255))}))
_INDEX_NAME = Field(STR, required=True, min_len=3, max_len=255, pattern=_NAME)
_GSI = Field(MAP, shape=Shape({"IndexName": _INDEX_NAME, "KeySchema": _KEY, "Projection": _PROJECTION,
                               "ProvisionedThroughput": _THROUGHPUT}))
_LSI = Field(MAP, shape=Shape({"IndexName": _INDEX_NAME, "KeySchema": _KEY, "Projection": _PROJECTION}))
_SSE = Field(MAP, shape=Shape({"Enabled": Field(BOOL), "SSEType": enum("AES256", "KMS"), "KMSMasterKeyId": Field(STR)}))
_OVERRIDES = {
    "BillingModeOverride": enum("PROVISIONED", "PAY_PER_REQUEST"),
    "GlobalSecondaryIndexOverride": Field(LIST, items=_GSI),
    "LocalSecondaryIndexOverride": Field(LIST, items=_LSI),
    "ProvisionedThroughputOverride": _THROUGHPUT,
    "SSESpecificationOverride": _SSE,
}
_ATTR_DEF = Field(MAP, shape=Shape({"AttributeName": Field(STR, required=True, min_len=1, max_len=255),
                                    "AttributeType": enum("S", "N", "B", required=True)}))

TIMESTAMPS = ("TimeRangeLowerBound", "TimeRangeUpperBound", "RestoreDateTime", "ExportTime")


def _timestamps(body: dict[str, Any]) -> None:
    """Timestamps travel as epoch seconds; anything else does not deserialize, as AWS reports it."""
    for name in TIMESTAMPS:
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise SerializationException(f"class java.lang.String can not be converted to an Double at '{name}'"
                                        if isinstance(value, str) else f"Unexpected value type at '{name}'")


CREATE_BACKUP = Shape({"TableName": _TABLE_ARN,
                       "BackupName": Field(STR, required=True, min_len=3, max_len=255, pattern=_NAME)})
DESCRIBE_BACKUP = Shape({"BackupArn": _BACKUP_ARN})
DELETE_BACKUP = Shape({"BackupArn": _BACKUP_ARN})
LIST_BACKUPS = Shape({
    "TableName": Field(STR, min_len=1, max_len=1024), "Limit": Field(INT, minimum=1, maximum=100),
    "TimeRangeLowerBound": Field(ANY), "TimeRangeUpperBound": Field(ANY),
    "ExclusiveStartBackupArn": Field(STR, min_len=37, max_len=1024),
    "BackupType": enum("USER", "SYSTEM", "AWS_BACKUP", "ALL"),
}, _timestamps)
RESTORE_FROM_BACKUP = Shape({"TargetTableName": table_name(), "BackupArn": _BACKUP_ARN, **_OVERRIDES})
UPDATE_CONTINUOUS = Shape({"TableName": _TABLE_ARN, "PointInTimeRecoverySpecification": Field(
    MAP, required=True, shape=Shape({"PointInTimeRecoveryEnabled": Field(BOOL, required=True),
                                     "RecoveryPeriodInDays": Field(INT, minimum=1, maximum=35)}))})
DESCRIBE_CONTINUOUS = Shape({"TableName": _TABLE_ARN})
RESTORE_TO_TIME = Shape({
    "SourceTableArn": Field(STR, min_len=1, max_len=1024), "SourceTableName": table_name(required=False),
    "TargetTableName": table_name(), "UseLatestRestorableTime": Field(BOOL), "RestoreDateTime": Field(ANY),
    **_OVERRIDES}, _timestamps)
EXPORT = Shape({
    "TableArn": _TABLE_ARN, "ExportTime": Field(ANY), "ClientToken": Field(STR, pattern=_TOKEN),
    "S3Bucket": Field(STR, required=True),  # a bucket name or a file:// URL: checked by the engine
    "S3BucketOwner": Field(STR, pattern=_OWNER), "S3Prefix": Field(STR, max_len=1024),
    "S3SseAlgorithm": enum("AES256", "KMS"), "S3SseKmsKeyId": Field(STR, min_len=1, max_len=2048),
    "ExportFormat": enum("DYNAMODB_JSON", "ION"), "ExportType": enum("FULL_EXPORT", "INCREMENTAL_EXPORT"),
    "IncrementalExportSpecification": Field(MAP),
}, _timestamps)
DESCRIBE_EXPORT = Shape({"ExportArn": Field(STR, required=True, min_len=37, max_len=1024)})
LIST_EXPORTS = Shape({"TableArn": Field(STR, min_len=1, max_len=1024), "MaxResults": Field(INT, minimum=1, maximum=25),
                      "NextToken": Field(STR)})
IMPORT = Shape({
    "ClientToken": Field(STR, required=True, pattern=_TOKEN),  # required in practice (SDKs always fill one in)
    "S3BucketSource": Field(MAP, required=True, shape=Shape({
        "S3BucketOwner": Field(STR, pattern=_OWNER),
        "S3Bucket": Field(STR, required=True),  # a bucket name or a file:// URL: checked by the engine
        "S3KeyPrefix": Field(STR, max_len=1024)})),
    "InputFormat": enum("DYNAMODB_JSON", "ION", "CSV", required=True),
    "InputFormatOptions": Field(MAP, shape=Shape({"Csv": Field(MAP, shape=Shape({
        "Delimiter": Field(STR, min_len=1, max_len=1, pattern=re.compile(r"[,;:|\t ]\Z")),
        "HeaderList": Field(LIST, min_len=1, max_len=255, items=Field(STR, min_len=1, max_len=65535))}))})),
    "InputCompressionType": enum("GZIP", "ZSTD", "NONE"),
    "TableCreationParameters": Field(MAP, required=True, shape=Shape({
        "TableName": table_name(), "AttributeDefinitions": Field(LIST, required=True, items=_ATTR_DEF),
        "KeySchema": _KEY, "BillingMode": enum("PROVISIONED", "PAY_PER_REQUEST"),
        "ProvisionedThroughput": _THROUGHPUT, "SSESpecification": _SSE,
        "GlobalSecondaryIndexes": Field(LIST, items=_GSI)})),
})
DESCRIBE_IMPORT = Shape({"ImportArn": Field(STR, required=True, min_len=37, max_len=1024)})
LIST_IMPORTS = Shape({"TableArn": Field(STR, min_len=1, max_len=1024), "PageSize": Field(INT, minimum=1, maximum=25),
                      "NextToken": Field(STR, min_len=112, max_len=1024, pattern=re.compile(r"([0-9a-f]{16})+\Z"))})

SHAPES = {
    "CreateBackup": CREATE_BACKUP, "DescribeBackup": DESCRIBE_BACKUP, "DeleteBackup": DELETE_BACKUP,
    "ListBackups": LIST_BACKUPS, "RestoreTableFromBackup": RESTORE_FROM_BACKUP,
    "UpdateContinuousBackups": UPDATE_CONTINUOUS, "DescribeContinuousBackups": DESCRIBE_CONTINUOUS,
    "RestoreTableToPointInTime": RESTORE_TO_TIME, "ExportTableToPointInTime": EXPORT,
    "DescribeExport": DESCRIBE_EXPORT, "ListExports": LIST_EXPORTS, "ImportTable": IMPORT,
    "DescribeImport": DESCRIBE_IMPORT, "ListImports": LIST_IMPORTS,
}
