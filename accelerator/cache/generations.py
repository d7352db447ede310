"""Write generations: the check that keeps a read which raced a write from filling the old value.

A scope is an item ``(incarnation, pk, sk)``, a partition ``(incarnation, pk)`` or a table
``incarnation``. Every write bumps the scopes it touches before it goes to the store and again after
it returns; a read holds its scope, notes the generation before it asks the store, and fills the
cache only if the generation is unchanged when the answer arrives. Counters exist only while some
read or write holds the scope, so memory is bounded by the requests in flight; a bump of a scope
nobody holds is a no-op, because no read could be affected by it.
"""

from __future__ import annotations

from collections.abc import Hashable

__all__ = ["Generations"]


class Generations:
    """Per-scope write counters, reference-counted by the requests that watch them."""

    __slots__ = ("_slots",)

    def __init__(self) -> None:
        self._slots: dict[Hashable, list[int]] = {}  # scope -> [generation, holders]

    def hold(self, scope: Hashable) -> int:
        """Start watching ``scope``; returns its current generation."""
        slot = self._slots.get(scope)
        if slot is None:
            slot = self._slots[scope] = [0, 0]
        slot[1] += 1
        return slot[0]

    def release(self, scope: Hashable) -> None:
        slot = self._slots[scope]
        slot[1] -= 1
        if slot[1] == 0:
            del self._slots[scope]

    def current(self, scope: Hashable) -> int:
        """The generation of a held scope (-1 if nobody holds it, which matches no noted value)."""
        slot = self._slots.get(scope)
        return -1 if slot is None else slot[0]

    def bump(self, scope: Hashable) -> None:
        slot = self._slots.get(scope)
        if slot is not None:
            slot[0] += 1

    def __len__(self) -> int:
        return len(self._slots)
