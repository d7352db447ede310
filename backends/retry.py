"""A retry policy as a value: how many attempts and how long to back off between them."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts`` tries in all; before try n+1 sleep a jittered ``base * 2**n``, capped at ``cap``."""

    attempts: int = 8
    base: float = 0.002
    cap: float = 0.1

    @classmethod
    def of(cls, value: RetryPolicy | Mapping[str, Any] | None, default: RetryPolicy) -> RetryPolicy:
        """A policy from a config value: a policy, a table of its fields (TOML), or None for ``default``."""
        if value is None:
            return default
        if isinstance(value, RetryPolicy):
            return value
        return cls(**value)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (0-based): full jitter."""
        return random.uniform(0, min(self.cap, self.base * (2**attempt)))

    async def tries(self) -> AsyncIterator[int]:
        """Yield try numbers 0..attempts-1, sleeping between them; the caller breaks out on success."""
        for attempt in range(self.attempts):
            if attempt:
                await asyncio.sleep(self.delay(attempt - 1))
            yield attempt
