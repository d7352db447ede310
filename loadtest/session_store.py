"""Session store: log in, page views, touch, log out — the classic key-value cache workload.

- log in: PutItem of a session with an ``expires_at`` TTL attribute (epoch seconds, TTL enabled on the table);
- page view: GetItem of a session, Zipf(0.99) over the session slots (a few users are very active);
- touch: UpdateItem ``SET last_seen, expires_at`` with ``attribute_exists`` (never resurrect a logged-out session);
- log out: DeleteItem.
Sessions live in ``LOADTEST_KEYS`` slots; log in and log out pick slots uniformly at the same rate, so the
share of active sessions stays where the preload put it (all active), and a page view of a logged-out slot
is a legitimate "not found" (a negative-cache hit on the accelerator).
Mix per 100 requests: 85 page views, 10 touches, 2.5 log-ins, 2.5 log-outs.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

if not __package__:  # loaded by path as a locustfile (locust -f loadtest/x.py): make the repo importable
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from locust import task  # noqa: E402

from loadtest.common import N, Preload, S, Scenario, ZipfKeysUser, env_int, install_cli_hooks, table_spec  # noqa: E402
from loadtest.wire import Connection, DynamoCallError  # noqa: E402
from loadtest.zipf import Zipf  # noqa: E402

__all__ = ["SessionStoreUser", "SCENARIO"]

TABLE = os.environ.get("LOADTEST_TABLE_PREFIX", "lt_") + "sessions"
SESSION_TTL = 1800  # seconds
_ROLES = [S("reader"), S("buyer")]


def _key(slot: int) -> dict[str, Any]:
    return {"session_id": S(f"sess{slot:08d}")}


def _session(slot: int, now: int) -> dict[str, Any]:
    return {
        **_key(slot),
        "user_id": S(f"user{slot % 1_000_003:07d}"),
        "token": S(uuid.uuid4().hex),
        "created_at": N(now),
        "last_seen": N(now),
        "expires_at": N(now + SESSION_TTL),
        "attrs": {"M": {"ua": S("Mozilla/5.0 (X11; Linux x86_64) loadtest"), "ip": S("10.0.0.1"),
                        "roles": {"L": _ROLES}, "locale": S("en-US"), "cart_items": N(0)}},
    }


class SessionStoreUser(ZipfKeysUser):
    keys = env_int("LOADTEST_KEYS", 10_000)

    @task(34)
    def page_view(self) -> None:
        self.call("GetItem", {"TableName": TABLE, "Key": _key(self.zipf.draw(self.rng))}, "page-view")

    @task(4)
    def touch(self) -> None:
        now = int(time.time())
        self.call("UpdateItem", {
            "TableName": TABLE, "Key": _key(self.zipf.draw(self.rng)),
            "UpdateExpression": "SET last_seen = :now, expires_at = :exp",
            "ConditionExpression": "attribute_exists(session_id)",
            "ExpressionAttributeValues": {":now": N(now), ":exp": N(now + SESSION_TTL)},
        }, "touch")

    @task(1)
    def log_in(self) -> None:
        item = _session(self.rng.randrange(self.keys), int(time.time()))
        self.call("PutItem", {"TableName": TABLE, "Item": item}, "log-in")

    @task(1)
    def log_out(self) -> None:
        self.call("DeleteItem", {"TableName": TABLE, "Key": _key(self.rng.randrange(self.keys))}, "log-out")


def _enable_ttl(conn: Connection) -> None:
    try:
        conn.call("UpdateTimeToLive", {"TableName": TABLE, "TimeToLiveSpecification":
                                       {"Enabled": True, "AttributeName": "expires_at"}})
    except DynamoCallError as exc:  # already enabled (DynamoDB says so with a ValidationException)
        if exc.type not in ("ValidationException", "UnknownOperationException"):
            raise


def _preload() -> list[Preload]:
    n = SessionStoreUser.keys

    def items() -> Iterator[dict[str, Any]]:
        now = int(time.time())
        return (_session(i, now) for i in range(n))

    return [Preload(TABLE, n, items)]


def _describe() -> dict[str, Any]:
    z = Zipf(SessionStoreUser.keys)
    return {"sessions": z.n, "zipf_s": 0.99, "session_ttl_s": SESSION_TTL,
            "mix": "85% GetItem page-view, 10% UpdateItem touch, 2.5% PutItem log-in, 2.5% DeleteItem log-out",
            "top_1pct_share": round(z.share_of_top(0.01), 3)}


SCENARIO = Scenario(name="session-store", user=SessionStoreUser,
                    tables=lambda: [table_spec(TABLE, "session_id")], preloads=_preload,
                    describe=_describe, after_create=_enable_ttl)
install_cli_hooks(SCENARIO)
