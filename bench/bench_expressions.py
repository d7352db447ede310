"""Micro-benchmarks of the expression pipeline: cold parse, cached parse, bind, evaluate, apply.

Run: ``pytest bench/bench_expressions.py --benchmark-only``. The two typical expressions are a
conditional put (``attribute_not_exists(pk) AND #s = :v``) and a counter update
(``SET #c = #c + :one, last_seen = :t REMOVE tmp``).
"""

from __future__ import annotations

from typing import Any

from accelerator.expressions import (
    ExpressionContext,
    apply_update,
    evaluate,
    parse_cache_clear,
    parse_condition,
    parse_projection,
    parse_update,
    project,
)

CONDITION = "attribute_not_exists(pk) AND #s = :v"
UPDATE = "SET #c = #c + :one, last_seen = :t REMOVE tmp"
PROJECTION = "pk, #s, profile.address.city, tags[0]"

ITEM: dict[str, Any] = {
    "pk": {"S": "user#1"},
    "status": {"S": "active"},
    "count": {"N": "41"},
    "tmp": {"S": "scratch"},
    "profile": {"M": {"address": {"M": {"city": {"S": "Oslo"}, "zip": {"S": "0150"}}}, "age": {"N": "40"}}},
    "tags": {"L": [{"S": "a"}, {"S": "b"}]},
}


def condition_context() -> ExpressionContext:
    return ExpressionContext({"#s": "status"}, {":v": {"S": "active"}})


def update_context() -> ExpressionContext:
    return ExpressionContext({"#c": "count"}, {":one": {"N": "1"}, ":t": {"S": "2024-01-01T00:00:00Z"}})


def test_condition_parse_cold(benchmark):
    benchmark.pedantic(parse_condition, args=(CONDITION,), setup=parse_cache_clear, rounds=3000, iterations=1)


def test_condition_parse_cached(benchmark):
    parse_condition(CONDITION)
    benchmark(parse_condition, CONDITION)


def test_condition_bind_and_evaluate_per_request(benchmark):
    tree = parse_condition(CONDITION)

    def request() -> bool:
        ctx = condition_context()
        result = evaluate(ctx.bind_condition(tree), ITEM)
        ctx.check_unused()
        return result

    assert benchmark(request) is False


def test_condition_evaluate_bound(benchmark):
    bound = condition_context().bind_condition(parse_condition(CONDITION))
    assert benchmark(evaluate, bound, {"status": {"S": "active"}}) is True


def test_filter_evaluate_bound_numeric(benchmark):
    ctx = ExpressionContext(None, {":lo": {"N": "18"}, ":hi": {"N": "65"}, ":c": {"S": "Oslo"}})
    bound = ctx.bind_condition(parse_condition("profile.age BETWEEN :lo AND :hi AND profile.address.city = :c"))
    assert benchmark(bound.test, ITEM) is True


def test_update_parse_cold(benchmark):
    benchmark.pedantic(parse_update, args=(UPDATE,), setup=parse_cache_clear, rounds=3000, iterations=1)


def test_update_parse_cached(benchmark):
    parse_update(UPDATE)
    benchmark(parse_update, UPDATE)


def test_update_bind_and_apply_per_request(benchmark):
    tree = parse_update(UPDATE)

    def request() -> dict[str, Any]:
        ctx = update_context()
        new, _ = apply_update(ctx.bind_update(tree), ITEM)
        ctx.check_unused()
        return new

    assert benchmark(request)["count"] == {"N": "42"}


def test_update_apply_bound(benchmark):
    bound = update_context().bind_update(parse_update(UPDATE))
    new, _ = benchmark(apply_update, bound, ITEM)
    assert "tmp" not in new and ITEM["tmp"] == {"S": "scratch"}


def test_projection_bind_and_project(benchmark):
    tree = parse_projection(PROJECTION)

    def request() -> dict[str, Any]:
        return project(ExpressionContext({"#s": "status"}).bind_projection(tree), ITEM)

    assert benchmark(request)["profile"] == {"M": {"address": {"M": {"city": {"S": "Oslo"}}}}}
