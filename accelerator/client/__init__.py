"""A fast Python client for the accelerator (or any DynamoDB endpoint), shaped like boto3.

    client = AcceleratorClient("http://127.0.0.1:8111")          # or endpoints=[...], several nodes
    client.get_item(TableName="t", Key={"pk": {"S": "a"}})      # boto3's low-level methods and shapes
    table = client.Table("t")                                   # boto3's resource Table, on plain values
    table.put_item(Item={"pk": "a", "n": 1})

``AsyncAcceleratorClient`` has the same methods as coroutines.
"""

from .aio import AsyncAcceleratorClient
from .conditions import Attr, Key
from .errors import (
    ClientError,
    ConnectError,
    ConnectionClosed,
    ConnectTimeout,
    ProtocolError,
    ReadTimeout,
    TransportError,
)
from .retry import NO_RETRY, RetryPolicy
from .sigv4 import Credentials, SigV4Signer
from .sync import AcceleratorClient
from .table import AsyncTable, Table
from .types import TypeDeserializer, TypeSerializer, deserialize, deserialize_item, serialize, serialize_item
from .waiters import WaiterError

__all__ = [
    "NO_RETRY",
    "AcceleratorClient",
    "AsyncAcceleratorClient",
    "AsyncTable",
    "Attr",
    "ClientError",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionClosed",
    "Credentials",
    "Key",
    "ProtocolError",
    "ReadTimeout",
    "RetryPolicy",
    "SigV4Signer",
    "Table",
    "TransportError",
    "TypeDeserializer",
    "TypeSerializer",
    "WaiterError",
    "deserialize",
    "deserialize_item",
    "serialize",
    "serialize_item",
]
