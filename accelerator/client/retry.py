"""The retry policy: which answers are retried, how many times, and how long to wait in between."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["DEFAULT_RETRYABLE_CODES", "NO_RETRY", "RetryPolicy"]

DEFAULT_RETRYABLE_CODES: frozenset[str] = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
    }
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter: before retry n (0-based) sleep uniform(0, min(cap, base * 2**n)).

    ``max_attempts`` counts the first try. A connection failure that moves the request to another endpoint
    does not sleep, and each extra endpoint adds one attempt to the budget.
    """

    max_attempts: int = 4
    base: float = 0.025
    cap: float = 2.0
    retryable_codes: frozenset[str] = DEFAULT_RETRYABLE_CODES
    retry_server_errors: bool = True
    rand: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base < 0 or self.cap < 0:
            raise ValueError("base and cap must not be negative")

    def is_retryable(self, code: str, status: int) -> bool:
        """Whether an error answer with this code and HTTP status may be retried."""
        return code in self.retryable_codes or (self.retry_server_errors and status >= 500)

    def backoff(self, retry: int) -> float:
        """Seconds to sleep before retry number ``retry`` (0 for the first retry)."""
        return self.rand() * min(self.cap, self.base * (2**retry))


NO_RETRY = RetryPolicy(max_attempts=1)
