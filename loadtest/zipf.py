"""Zipf-distributed key choice: a cumulative weight table, searched with bisect (O(log n) per draw)."""

from __future__ import annotations

import random
from bisect import bisect_right
from itertools import accumulate

__all__ = ["Zipf"]


class Zipf:
    """Draw ranks 0..n-1 with P(k) ∝ 1/(k+1)^s, mapped through a fixed shuffle so hot keys are spread out.

    s = 0.99 is YCSB's "zipfian" constant: with 100,000 keys the hottest key takes ~8% of the draws and the
    hottest 1% of keys about half.
    """

    def __init__(self, n: int, s: float = 0.99, seed: int = 42) -> None:
        if n < 1:
            raise ValueError("n must be at least 1")
        self.n = n
        self.cumulative = list(accumulate(1.0 / (k + 1) ** s for k in range(n)))
        self.total = self.cumulative[-1]
        self.order = list(range(n))
        random.Random(seed).shuffle(self.order)

    def draw(self, rng: random.Random) -> int:
        """One key index; ``rng`` is per user so users do not share (and contend on) one generator."""
        rank = bisect_right(self.cumulative, rng.random() * self.total)
        return self.order[min(rank, self.n - 1)]

    def share_of_top(self, fraction: float) -> float:
        """The probability mass of the hottest ``fraction`` of keys (for the report)."""
        top = max(1, int(self.n * fraction))
        return self.cumulative[top - 1] / self.total
