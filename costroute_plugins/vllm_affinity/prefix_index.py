"""Which replica was recently sent which prefix block: a bounded LRU approximating the workers' caches.

The ring decides where a NEW prefix goes; once the load bound has sent a prefix elsewhere too, this index knows
that both replicas now hold it and lets the policy follow the cache instead of the ring. It is per proxy process
and forgets a replica whose worker restarted (its cache is empty).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence


class PrefixIndex:
    def __init__(self, max_blocks: int = 200_000) -> None:
        self.max_blocks = max_blocks
        self._holders: OrderedDict[int, dict[str, int]] = OrderedDict()
        self._epochs: dict[str, int] = {}

    def matched_blocks(self, hashes: Sequence[int], replicas: Iterable[str]) -> dict[str, int]:
        """For each replica, how many leading blocks of ``hashes`` it was last seen holding."""
        candidates = set(replicas)
        depth = dict.fromkeys(candidates, 0)
        for position, block in enumerate(hashes):
            holders = self._holders.get(block)
            if not holders:
                break
            candidates = {r for r in candidates if holders.get(r) == self._epochs.get(r, 0)}
            if not candidates:
                break
            for replica in candidates:
                depth[replica] = position + 1
        return depth

    def record(self, hashes: Sequence[int], replica: str) -> None:
        """``replica`` now holds these blocks (it just prefilled them); refresh their recency."""
        epoch = self._epochs.get(replica, 0)
        for block in hashes:
            holders = self._holders.get(block)
            if holders is None:
                holders = self._holders[block] = {}
            else:
                self._holders.move_to_end(block)
            holders[replica] = epoch
        while len(self._holders) > self.max_blocks:
            self._holders.popitem(last=False)

    def forget(self, replica: str) -> None:
        """The replica's cache is gone (restart, down): everything recorded for it stops matching."""
        self._epochs[replica] = self._epochs.get(replica, 0) + 1

    def __len__(self) -> int:
        return len(self._holders)
