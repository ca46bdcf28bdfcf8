"""Consistent hashing: each prefix has a stable preference order over replicas.

Every proxy replica computes the same order from the same replica addresses, so a new prefix lands on the same
worker whichever proxy receives it, and adding or removing a worker moves only the prefixes that hashed to it.
Each replica owns ``vnodes`` points on the ring so shares stay even with few replicas.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable


def _point(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class HashRing:
    def __init__(self, replicas: Iterable[str], vnodes: int = 100) -> None:
        self.replicas = tuple(sorted(set(replicas)))
        points = sorted((_point(f"{replica}#{i}"), replica) for replica in self.replicas for i in range(vnodes))
        self._keys = [key for key, _ in points]
        self._owners = [owner for _, owner in points]

    def order(self, key: int) -> list[str]:
        """Replicas in preference order for ``key``: clockwise from its point, each replica once."""
        if not self._keys:
            return []
        start = bisect.bisect(self._keys, key % (1 << 64))
        seen: list[str] = []
        for step in range(len(self._keys)):
            owner = self._owners[(start + step) % len(self._keys)]
            if owner not in seen:
                seen.append(owner)
                if len(seen) == len(self.replicas):
                    break
        return seen
