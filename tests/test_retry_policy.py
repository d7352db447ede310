"""The one retry policy (accelerator.core.retry): counting, backoff bounds and config parsing, with the
randomness and the sleep injected."""

from __future__ import annotations

import asyncio

import pytest

from accelerator.client import RetryPolicy as ClientRetryPolicy
from accelerator.core.retry import NO_RETRY, RetryPolicy


def test_backoff_is_full_jitter_capped() -> None:
    top = RetryPolicy(base=0.01, cap=0.05, rand=lambda: 1.0)
    assert [top.backoff(n) for n in range(5)] == [0.01, 0.02, 0.04, 0.05, 0.05]
    assert RetryPolicy(rand=lambda: 0.0).backoff(10) == 0.0
    assert RetryPolicy(base=1.0, cap=3.0, rand=lambda: 0.5).backoff(10_000) == 1.5  # no overflow


def test_tries_count_and_sleep_between_them() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    policy = RetryPolicy(max_attempts=4, base=0.1, cap=1.0, rand=lambda: 1.0, sleep=sleep)

    async def run() -> list[int]:
        return [attempt async for attempt in policy.tries()]

    assert asyncio.run(run()) == [0, 1, 2, 3]
    assert slept == [0.1, 0.2, 0.4]
    assert asyncio.run(_collect(NO_RETRY)) == [0]


async def _collect(policy: RetryPolicy) -> list[int]:
    return [attempt async for attempt in policy.tries()]


def test_config_tables_and_bad_values() -> None:
    default = RetryPolicy(max_attempts=8)
    assert RetryPolicy.of(None, default) is default
    assert RetryPolicy.of({"max_attempts": 2, "base": 0.5}, default) == RetryPolicy(max_attempts=2, base=0.5)
    assert RetryPolicy.of({"attempts": 2}, default).max_attempts == 2  # the older name still reads
    with pytest.raises(ValueError, match="unknown retry option"):
        RetryPolicy.of({"tries": 2}, default)
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="negative"):
        RetryPolicy(base=-1)


def test_the_client_uses_the_same_policy() -> None:
    assert ClientRetryPolicy is RetryPolicy
    policy = RetryPolicy()
    assert policy.is_retryable("ThrottlingException", 400) and policy.is_retryable("Whatever", 503)
    assert not policy.is_retryable("ValidationException", 400)
