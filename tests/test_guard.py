"""Code after a commit cannot fail the request: a failure there is counted, logged once, and carried past."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from accelerator.cache import writes
from accelerator.core import guard
from accelerator.core.context import HIT, MISS
from tests.cache_fakes import FakeClock, make_cached
from tests.test_cache_reads import S, get
from tests.test_cache_writes import put


def test_quietly_counts_and_logs_a_site_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    once = guard.LogOnce(logging.getLogger("test.guard"), interval=60.0, clock=clock)
    with caplog.at_level(logging.INFO, "test.guard"):
        assert once("a", logging.ERROR, "broke %s", 1)
        assert not once("a", logging.ERROR, "broke %s", 2)
        assert once("b", logging.ERROR, "other")
        clock.advance(61)
        assert once("a", logging.ERROR, "broke %s", 3)
    assert [r.getMessage() for r in caplog.records] == ["broke 1", "other", "broke 3 (1 more since the last report)"]
    before = guard.FAILURES["test site"]
    assert guard.quietly("test site", lambda: 1 // 0, default=7) == 7
    assert guard.quietly("test site", lambda: 5) == 5
    assert guard.FAILURES["test site"] == before + 1


def _broken(*args: Any) -> Any:
    raise RuntimeError("a bug after the commit")


def test_a_failing_settle_still_answers_the_committed_write(monkeypatch: pytest.MonkeyPatch) -> None:
    cs, store, _ = make_cached()
    monkeypatch.setattr(writes, "settle", _broken)
    before = guard.FAILURES["cache settle"]
    assert put(cs, "a", "new") == {}
    assert store.data["t"][(b"a", b"")]["v"] == S("new")
    assert guard.FAILURES["cache settle"] == before + 1
    assert get(cs, "a") == ({"Item": {"pk": S("a"), "v": S("new")}}, MISS)  # invalidated, not cached blind


def test_a_failing_cache_update_still_answers_and_forgets_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    cs, store, _ = make_cached()
    store.data["t"][(b"b", b"")] = {"pk": S("b"), "v": S("old")}
    assert get(cs, "b")[1] == MISS and get(cs, "b")[1] == HIT
    monkeypatch.setattr(type(cs.items), "put", _broken)  # the class: its instances have __slots__
    before = guard.FAILURES["cache update after a write"]
    assert put(cs, "a", "new") == {}
    assert guard.FAILURES["cache update after a write"] == before + 1
    assert len(cs.gens) == 0  # every hold released
    monkeypatch.undo()
    assert get(cs, "b")[1] == MISS  # the table was flushed: nothing stale can be served


def test_a_handler_bug_is_a_counted_500_in_the_errors_and_the_histogram() -> None:
    import asyncio

    import orjson

    from accelerator.api import TARGET_PREFIX, Router
    from accelerator.metrics import Metrics

    class _Broken:
        async def call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
            raise KeyError("a bug below the router")

    metrics = Metrics()
    router = Router(_Broken(), metrics)  # type: ignore[arg-type]  # only call() is used
    status, _, _, body = asyncio.run(router.handle(TARGET_PREFIX + b"GetItem",
                                                   b'{"TableName": "table", "Key": {"pk": {"S": "a"}}}'))
    assert status == 500 and orjson.loads(body)["__type"].endswith("InternalServerError")
    assert metrics.errors[("GetItem", "InternalServerError")] == 1
    assert metrics.latency[("GetItem", "")].count == 1
