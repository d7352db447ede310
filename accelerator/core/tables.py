"""Table definitions: what CreateTable declared, durable in the storage backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from accelerator.core.keys import KeySchema

__all__ = ["TableDef"]


@dataclass(frozen=True, slots=True)
class TableDef:
    """A table as created: its key schema plus the declaration DescribeTable echoes."""

    name: str
    key: KeySchema
    attribute_definitions: tuple[tuple[str, str], ...]
    created: float
    billing_mode: str = "PROVISIONED"
    provisioned: dict[str, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "name": self.name,
                "key": [self.key.hash_name, self.key.hash_type, self.key.range_name, self.key.range_type],
                "attrs": self.attribute_definitions,
                "created": self.created,
                "billing": self.billing_mode,
                "provisioned": self.provisioned,
                "extra": self.extra,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> TableDef:
        raw = orjson.loads(data)
        return cls(
            name=raw["name"],
            key=KeySchema(*raw["key"]),
            attribute_definitions=tuple((a, t) for a, t in raw["attrs"]),
            created=raw["created"],
            billing_mode=raw["billing"],
            provisioned=raw["provisioned"],
            extra=raw.get("extra") or {},
        )
