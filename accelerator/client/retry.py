"""The client's retry policy is the project's one policy (``accelerator.core.retry``, standard library only)."""

from __future__ import annotations

from accelerator.core.retry import DEFAULT_RETRYABLE_CODES, NO_RETRY, RetryPolicy

__all__ = ["DEFAULT_RETRYABLE_CODES", "NO_RETRY", "RetryPolicy"]
