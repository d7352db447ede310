"""What every scenario shares: the raw-JSON DynamoDB user, request pacing, item helpers, CLI hooks."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from locust import User, events

from loadtest.recorder import Recorder, stats_of
from loadtest.wire import Connection, create_tables, write_items
from loadtest.zipf import Zipf

__all__ = ["DynamoUser", "ZipfKeysUser", "Scenario", "Preload", "paced", "S", "N", "install_cli_hooks", "env_int"]

def S(value: str) -> dict[str, str]:
    return {"S": value}


def N(value: float | int) -> dict[str, str]:
    return {"N": str(value)}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def paced(user: DynamoUser) -> float:
    """Wait until this user's next request is due: a fixed schedule of ``rate_per_user`` requests/s.

    Like Locust's ``constant_throughput`` but counted in requests, not tasks (a checkout task sends two),
    and on a schedule rather than "1/rate minus the last task's time", so jitter does not lower the rate.
    A user more than 0.1 s behind drops the backlog instead of bursting to catch up.
    """
    interval = 1.0 / user.rate_per_user
    now = time.perf_counter()
    due = user._next_due + interval * max(user._sent_since_wait, 1)
    user._sent_since_wait = 0
    if due < now - 0.1:
        due = now
    user._next_due = due
    return max(0.0, due - now)


class DynamoUser(User):
    """A Locust user that speaks DynamoDB JSON 1.0 on one keep-alive connection.

    It sends through ``loadtest.wire.Connection`` (the project's raw HTTP/1.1 client; Locust's gevent
    patches make its socket cooperative) rather than Locust's ``FastHttpUser``, whose session, user agent and
    cookie jar took more than half of the generator's CPU per request (200 µs then, ~90 µs now, against the
    floor server); the generator's cost is what bounds the rate one machine can verify.
    """

    abstract = True
    wait_time = paced
    rate_per_user: float = float(os.environ.get("LOADTEST_RATE_PER_USER", "10"))
    # Failed conditions are business outcomes (out of stock, session gone), not errors of the server.
    expected_errors: frozenset[str] = frozenset(
        {"ConditionalCheckFailedException", "TransactionCanceledException"})
    network_timeout = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.host = self.host or self.environment.host
        if not self.host:
            raise ValueError("DynamoUser needs a host (the endpoint URL)")
        self.rng = random.Random()
        self._next_due = time.perf_counter() + self.rng.random() / self.rate_per_user  # spread users out
        self._sent_since_wait = 0
        self._conn = Connection(self.host, timeout=self.network_timeout)
        self._fire = self.environment.events.request.fire

    def on_stop(self) -> None:
        self._conn.close()

    def call(self, op: str, payload: dict[str, Any], label: str) -> dict[str, Any] | None:
        """Send one operation; named ``"<op> <label>"`` in the statistics. Returns the reply, or None."""
        self._sent_since_wait += 1
        body = orjson.dumps(payload)
        name = f"{op} {label}"
        start_time = time.time()
        t0 = time.perf_counter()
        try:
            reply = self._conn.request(op, body)
        except Exception as exc:  # noqa: BLE001 - refused, reset, timed out, not HTTP: this request failed
            self._conn.close()
            self._fire(request_type="POST", name=name, response_time=(time.perf_counter() - t0) * 1000.0,
                       response_length=0, response=None, exception=exc, context={}, start_time=start_time)
            return None
        elapsed_ms = (time.perf_counter() - t0) * 1000.0
        exception: Exception | None = None
        result: dict[str, Any] | None = None
        if reply.status == 200:
            result = orjson.loads(reply.body) if reply.body else {}
        else:
            kind = _error_type(reply.body)
            if not (reply.status == 400 and kind in self.expected_errors):
                exception = CallFailed(f"{reply.status} {kind}")
        self._fire(request_type="POST", name=name, response_time=elapsed_ms, response_length=len(reply.body),
                   response=reply, exception=exception, context={}, start_time=start_time)
        return result


class CallFailed(Exception):
    """A reply that is neither a success nor an expected business outcome (reported to Locust as a failure)."""


class ZipfKeysUser(DynamoUser):
    """A user that draws ``self.zipf`` keys from ``keys`` slots; the table is built once per class."""

    abstract = True
    keys: int
    _zipf: Zipf | None = None

    def on_start(self) -> None:
        cls = type(self)
        if cls._zipf is None or cls._zipf.n != cls.keys:
            cls._zipf = Zipf(cls.keys)
        self.zipf = cls._zipf


def _error_type(body: bytes | None) -> str:
    try:
        return str(orjson.loads(body or b"{}").get("__type", "")).rpartition("#")[2] or "unknown"
    except orjson.JSONDecodeError:
        return "unparsable"


@dataclass(frozen=True)
class Preload:
    """Items to write before the run: ``items()`` yields ``count`` items of ``table``."""

    table: str
    count: int
    items: Callable[[], Iterable[dict[str, Any]]]


@dataclass(frozen=True)
class Scenario:
    """A scenario as the runner sees it: tables, preload, the user class, and its size parameters."""

    name: str
    user: type[DynamoUser]
    tables: Callable[[], list[dict[str, Any]]]
    preloads: Callable[[], list[Preload]]
    describe: Callable[[], dict[str, Any]] = field(default=lambda: {})
    after_create: Callable[[Connection], None] = field(default=lambda conn: None)

    def prepare(self, url: str, progress: Callable[[int, str], Any] | None = None) -> int:
        """Create the tables (idempotently) and preload; ``progress(total, label)`` makes a tqdm-like bar."""
        conn = Connection(url)
        try:
            create_tables(conn, self.tables())
            self.after_create(conn)
            total = 0
            for preload in self.preloads():
                bar = progress(preload.count, preload.table) if progress else None
                try:
                    total += write_items(conn, preload.table, preload.items(), bar)
                finally:
                    if bar is not None:
                        bar.close()
            return total
        finally:
            conn.close()


def table_spec(name: str, hash_key: str, range_key: str | None = None) -> dict[str, Any]:
    """An on-demand table with string keys."""
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    attrs = [{"AttributeName": hash_key, "AttributeType": "S"}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
        attrs.append({"AttributeName": range_key, "AttributeType": "S"})
    return {"TableName": name, "KeySchema": schema, "AttributeDefinitions": attrs,
            "BillingMode": "PAY_PER_REQUEST"}


def batched(iterable: Iterable[Any], n: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for x in iterable:
        batch.append(x)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


def install_cli_hooks(scenario: Scenario) -> None:
    """For plain ``locust -f loadtest/<scenario>.py``: prepare on start, print exact percentiles on exit.

    The headless runner builds its own ``Environment`` with its own events, so these hooks fire only under
    the Locust command line.
    """
    recorder = Recorder()

    @events.init.add_listener
    def _init(environment: Any, **_: Any) -> None:
        environment.events.request.add_listener(recorder.on_request)

    @events.test_start.add_listener
    def _start(environment: Any, **_: Any) -> None:
        if environment.host and not os.environ.get("LOADTEST_SKIP_PREPARE"):
            scenario.prepare(environment.host)
        recorder.reset_origin()

    @events.quitting.add_listener
    def _quit(environment: Any, **_: Any) -> None:
        _t, lat, sid = recorder.arrays()
        print(f"\nexact latencies ({scenario.name}):")
        for i, (name, status) in enumerate(recorder.series):
            st = stats_of(lat[sid == i])
            print(f"  {name:32} {status:9} n={st.count:8d} p50={st.p50_us:8.0f}us p99={st.p99_us:8.0f}us "
                  f"max={st.max_us:8.0f}us")
