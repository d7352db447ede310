"""DynamoDB Streams (target prefix ``DynamoDBStreams_20120810``): ListStreams, DescribeStream, GetShardIterator,
GetRecords -- their request shapes, as botocore's dynamodbstreams model and the service declare them."""

from __future__ import annotations

from accelerator.api.shapes import INT, MAP, STR, Field, Shape, enum, table_name

__all__ = ["SHAPES", "TARGET_PREFIX"]

TARGET_PREFIX = b"DynamoDBStreams_20120810."

_ARN = Field(STR, required=True, min_len=37, max_len=1024)
_SHARD_ID = Field(STR, min_len=28, max_len=65)

SHAPES = {
    "ListStreams": Shape({
        "TableName": table_name(required=False), "Limit": Field(INT, minimum=1, maximum=100),
        "ExclusiveStartStreamArn": Field(STR, min_len=37, max_len=1024),
    }),
    "DescribeStream": Shape({
        "StreamArn": _ARN, "Limit": Field(INT, minimum=1, maximum=100), "ExclusiveStartShardId": _SHARD_ID,
        "ShardFilter": Field(MAP, shape=Shape({"Type": enum("CHILD_SHARDS"), "ShardId": _SHARD_ID})),
    }),
    "GetShardIterator": Shape({
        "StreamArn": _ARN, "ShardId": Field(STR, required=True, min_len=28, max_len=65),
        "ShardIteratorType": enum("TRIM_HORIZON", "LATEST", "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER",
                                  required=True),
        "SequenceNumber": Field(STR, min_len=21, max_len=40),
    }),
    "GetRecords": Shape({
        "ShardIterator": Field(STR, required=True, min_len=1, max_len=2048),
        "Limit": Field(INT, minimum=1, maximum=1000),
    }),
}
