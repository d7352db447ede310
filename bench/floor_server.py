"""The floor: the least a Python server can do to answer DynamoDB GetItem over HTTP/1.1 keep-alive.

uvloop + httptools + orjson, items in a dict. It answers GetItem, PutItem, BatchWriteItem, CreateTable and
DescribeTable (enough for ``bench.compare`` and the hot-keys load test) and nothing else: no validation, no
auth, no cache layer, no storage. Whatever the accelerator spends above this is the accelerator's own cost.

    python -m bench.floor_server --port 8200
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import httptools
import orjson
import uvloop

__all__ = ["FloorProtocol", "serve", "main"]

_TARGET = b"dynamodb_20120810."
_HEAD = b"HTTP/1.1 %d %s\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: %d\r\n\r\n"


class Tables:
    """Tables by name: key attribute names and items by their canonical key bytes."""

    def __init__(self) -> None:
        self.keys: dict[str, list[str]] = {}
        self.items: dict[str, dict[bytes, Any]] = {}

    def key_of(self, table: str, item: dict[str, Any]) -> bytes:
        return orjson.dumps([item[name] for name in self.keys[table]])

    def create(self, req: dict[str, Any]) -> dict[str, Any]:
        name = req["TableName"]
        self.keys.setdefault(name, [k["AttributeName"] for k in req["KeySchema"]])
        self.items.setdefault(name, {})
        return {"TableDescription": self.describe_one(name)}

    def describe_one(self, name: str) -> dict[str, Any]:
        return {"TableName": name, "TableStatus": "ACTIVE",
                "KeySchema": [{"AttributeName": a, "KeyType": t}
                              for a, t in zip(self.keys[name], ("HASH", "RANGE"), strict=False)]}

    def call(self, op: bytes, req: dict[str, Any]) -> dict[str, Any]:
        if op == b"getitem":
            item = self.items[req["TableName"]].get(self.key_of(req["TableName"], req["Key"]))
            return {"Item": item} if item is not None else {}
        if op == b"putitem":
            self.items[req["TableName"]][self.key_of(req["TableName"], req["Item"])] = req["Item"]
            return {}
        if op == b"batchwriteitem":
            for table, writes in req["RequestItems"].items():
                for w in writes:
                    item = w["PutRequest"]["Item"]
                    self.items[table][self.key_of(table, item)] = item
            return {"UnprocessedItems": {}}
        if op == b"createtable":
            return self.create(req)
        if op == b"describetable":
            return {"Table": self.describe_one(req["TableName"])}
        raise KeyError(op)


class FloorProtocol(asyncio.Protocol):
    """One connection: httptools parses, ``on_message_complete`` answers."""

    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        self.parser = httptools.HttpRequestParser(self)
        self.target = b""
        self.body: list[bytes] = []
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_message_begin(self) -> None:
        self.target, self.body = b"", []

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"x-amz-target":
            self.target = value.lower()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if not self.target:  # GET /health and anything else that is not an operation
            self.transport.write(_HEAD % (200, b"OK", 2) + b"{}")
            return
        try:
            reply = orjson.dumps(self.tables.call(self.target.partition(b".")[2],
                                                  orjson.loads(b"".join(self.body))))
            self.transport.write(_HEAD % (200, b"OK", len(reply)) + reply)
        except (KeyError, TypeError, ValueError) as exc:
            err = orjson.dumps({"__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"
                                if isinstance(exc, KeyError) else "ValidationException", "message": str(exc)})
            self.transport.write(_HEAD % (400, b"Bad Request", len(err)) + err)


async def serve(host: str, port: int) -> None:
    tables = Tables()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: FloorProtocol(tables), host, port)
    print(f"floor listening on http://{host}:{server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor_server", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8200)
    args = parser.parse_args(argv)
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
