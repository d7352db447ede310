"""Hot keys: 95% GetItem / 5% PutItem over a Zipf(0.99) key space (the cache's best and worst friend).

Every write replaces a hot item, so the cache must stay correct under writes to the keys it serves most.
Runs standalone: ``locust -f loadtest/hot_keys.py --host http://127.0.0.1:8111``
(``LOADTEST_KEYS`` sets the key count, ``LOADTEST_RATE_PER_USER`` the pace).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

if not __package__:  # loaded by path as a locustfile (locust -f loadtest/x.py): make the repo importable
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from locust import task  # noqa: E402

from loadtest.common import N, Preload, S, Scenario, ZipfKeysUser, env_int, install_cli_hooks, table_spec  # noqa: E402
from loadtest.zipf import Zipf  # noqa: E402

__all__ = ["HotKeysUser", "SCENARIO"]

TABLE = os.environ.get("LOADTEST_TABLE_PREFIX", "lt_") + "hot_keys"
PAYLOAD = "x" * 200  # a ~250-byte item, a typical small cached object


def _key(i: int) -> dict[str, Any]:
    return {"k": S(f"key{i:08d}")}


def _item(i: int, version: int) -> dict[str, Any]:
    return {**_key(i), "v": S(PAYLOAD), "version": N(version), "updated_at": N(int(time.time()))}


class HotKeysUser(ZipfKeysUser):
    keys = env_int("LOADTEST_KEYS", 100_000)

    @task(95)
    def read(self) -> None:
        self.call("GetItem", {"TableName": TABLE, "Key": _key(self.zipf.draw(self.rng))}, "hot-key")

    @task(5)
    def write(self) -> None:
        self.call("PutItem", {"TableName": TABLE, "Item": _item(self.zipf.draw(self.rng), 2)}, "hot-key")


def _preload() -> list[Preload]:
    n = HotKeysUser.keys

    def items() -> Iterator[dict[str, Any]]:
        return (_item(i, 1) for i in range(n))

    return [Preload(TABLE, n, items)]


def _describe() -> dict[str, Any]:
    z = Zipf(HotKeysUser.keys)
    return {"keys": z.n, "zipf_s": 0.99, "mix": "95% GetItem / 5% PutItem",
            "top_1pct_share": round(z.share_of_top(0.01), 3)}


SCENARIO = Scenario(name="hot-keys", user=HotKeysUser, tables=lambda: [table_spec(TABLE, "k")],
                    preloads=_preload, describe=_describe)
install_cli_hooks(SCENARIO)
