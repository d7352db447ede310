"""The one retry policy: how many tries, how long to back off between them, and which answers are retried.

Used by the storage backends (deadlocks, write conflicts, lock waits), the cache's invalidation broadcast
(publish and resubscribe) and the Python client (throttling and 5xx answers). Backoff is exponential with
full jitter: before retry n (0-based) sleep uniform(0, min(cap, base * 2**n)). The randomness and the sleep
are injected so tests can pin both; the module uses only the standard library, which is why the standalone
client may import it (the one exception to its import contract, see pyproject.toml).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["DEFAULT_RETRYABLE_CODES", "NO_RETRY", "RetryPolicy"]

DEFAULT_RETRYABLE_CODES: frozenset[str] = frozenset({
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``max_attempts`` tries in all (the first included), full-jitter exponential backoff between them.

    ``retryable_codes`` and ``retry_server_errors`` say which error answers a client retries; storage
    backends decide retryability themselves and use only the counting and the backoff.
    """

    max_attempts: int = 4
    base: float = 0.025
    cap: float = 2.0
    retryable_codes: frozenset[str] = DEFAULT_RETRYABLE_CODES
    retry_server_errors: bool = True
    rand: Callable[[], float] = field(default=random.random, compare=False, repr=False)
    sleep: Callable[[float], Awaitable[Any]] = field(default=asyncio.sleep, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base < 0 or self.cap < 0:
            raise ValueError("base and cap must not be negative")

    @classmethod
    def of(cls, value: RetryPolicy | Mapping[str, Any] | None, default: RetryPolicy) -> RetryPolicy:
        """A policy from a config value: a policy, a TOML table of its fields, or None for ``default``."""
        if value is None:
            return default
        if isinstance(value, RetryPolicy):
            return value
        if "attempts" in value:  # the backends' name for it before there was one policy
            value = {"max_attempts": value["attempts"], **{k: v for k, v in value.items() if k != "attempts"}}
        known = {f.name for f in fields(cls)} - {"rand", "sleep", "retryable_codes"}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown retry option(s) {', '.join(unknown)}; expected {', '.join(sorted(known))}")
        return cls(**value)

    def backoff(self, retry: int) -> float:
        """Seconds to sleep before retry number ``retry`` (0 for the first retry)."""
        return self.rand() * min(self.cap, self.base * (2 ** min(retry, 62)))

    def is_retryable(self, code: str, status: int) -> bool:
        """Whether an error answer with this code and HTTP status may be retried (clients)."""
        return code in self.retryable_codes or (self.retry_server_errors and status >= 500)

    async def pause(self, retry: int) -> None:
        """Sleep the backoff before retry number ``retry``."""
        await self.sleep(self.backoff(retry))

    async def tries(self) -> AsyncIterator[int]:
        """Yield try numbers 0..max_attempts-1, backing off between them; the caller breaks out on success."""
        for attempt in range(self.max_attempts):
            if attempt:
                await self.pause(attempt - 1)
            yield attempt


NO_RETRY = RetryPolicy(max_attempts=1)
