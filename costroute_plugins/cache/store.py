"""Cache entries (prompt, response, vector, expiry) and where they live.

The store is the source of truth; a replica's vector index is derived from it and can always be rebuilt.
Eviction and expiry happen here, and every removal is reported back so the index forgets the same ids.
"""

from __future__ import annotations

import json
import os
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from costroute_plugins.cache.usage import TenantUsage, entry_bytes

Clock = Callable[[], float]


@dataclass(frozen=True)
class Entry:
    id: int
    scope: str
    text: str
    text_hash: str
    response: Mapping[str, Any]
    vector: np.ndarray = field(repr=False, compare=False)
    created_at: float
    expires_at: float | None = None
    # Who asked (the scope's tenant), kept so an operator can count and purge one tenant's entries; the scope key
    # is a hash and does not say. None for entries stored before it was recorded.
    tenant: str | None = None

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at


@dataclass(frozen=True)
class Fetched:
    """What ``EntryStore.fetch`` read: the exact-match pointer's entry id (None: none, or not asked) and the live
    entries found among those asked for, by id."""

    pointer: int | None
    entries: dict[int, Entry]


@dataclass(frozen=True)
class Change:
    """An insert, delete or flush another replica made, to replay on this replica's index."""

    op: str  # "insert" | "delete" | "flush" (every entry gone; ``entry_id`` is 0)
    entry_id: int


class EntryStore(ABC):
    @abstractmethod
    def new_id(self) -> int: ...

    @abstractmethod
    def put(self, entry: Entry) -> list[int]:
        """Stores the entry; returns the ids evicted to stay within the size bound."""

    @abstractmethod
    def get(self, entry_id: int) -> Entry | None:
        """The live entry, marking it recently used; None when absent or expired."""

    @abstractmethod
    def delete(self, entry_id: int) -> None: ...

    @abstractmethod
    def find_exact(self, scope: str, text_hash: str) -> int | None:
        """Id of a live entry for this scope whose normalised prompt hashes to ``text_hash``."""

    @abstractmethod
    def entries(self) -> Iterator[Entry]:
        """Every live entry, to build a replica's index at start."""

    @abstractmethod
    def __len__(self) -> int: ...

    def fetch(self, entry_ids: Sequence[int], exact: tuple[str, str] | None = None) -> Fetched:
        """The live entries among ``entry_ids`` (marking them recently used) and, with ``exact`` (scope, text
        hash), the id ``find_exact`` gives: what a lookup reads, in one round trip on a shared store."""
        pointer = self.find_exact(*exact) if exact is not None else None
        return Fetched(pointer, {entry_id: entry for entry_id in dict.fromkeys(entry_ids)
                                 if (entry := self.get(entry_id)) is not None})

    def start_following(self) -> None:
        """Marks where ``changes`` starts; called before ``entries`` so nothing made meanwhile is missed."""

    def changes(self, block_s: float = 0.0) -> list[Change]:
        """Inserts and deletes made by other replicas since the last call, waiting up to ``block_s`` for one;
        none for a process-local store."""
        return []

    @property
    def shared(self) -> bool:
        """Whether other processes write here too (so ``changes`` has something to follow)."""
        return False

    def flush_counts(self) -> None:
        """Writes lookup counts ``count_lookup`` held back, if the store holds any back."""

    # -- administration: rare operator calls, so they may read every entry --------------------------------------
    @abstractmethod
    def flush(self) -> int:
        """Removes every entry (keeping the id counter, so an id is never reused); returns how many there were."""

    def tenant_entries(self, tenant: str, text_hash: str | None = None) -> list[int]:
        """Ids of ``tenant``'s entries in all its scopes; with ``text_hash``, only those of that normalised prompt."""
        return [entry.id for entry in self.entries()
                if entry.tenant == tenant and (text_hash is None or entry.text_hash == text_hash)]

    def usage(self) -> dict[str | None, TenantUsage]:
        """Entries and stored bytes per tenant, with each tenant's lookups and hits (``count_lookup``)."""
        usage: dict[str | None, TenantUsage] = {}
        for entry in self.entries():
            usage.setdefault(entry.tenant, TenantUsage()).add_entry(entry_bytes(entry.text, entry.response,
                                                                                 entry.vector))
        for tenant, (lookups, hits) in self.lookup_counts().items():
            usage.setdefault(tenant, TenantUsage()).add_lookups(lookups, hits)
        return usage

    @abstractmethod
    def count_lookup(self, tenant: str, hit: bool) -> None:
        """Counts one lookup of ``tenant``'s, for its hit rate."""

    @abstractmethod
    def lookup_counts(self) -> dict[str | None, tuple[int, int]]:
        """(lookups, hits) per tenant since the store was created."""


class MemoryStore(EntryStore):
    """One process's cache: bounded by ``max_entries`` with least-recently-used eviction.

    Expired entries are dropped when read; unread ones age to the LRU end and are evicted first anyway, so
    no sweep over all entries is needed on the insert path.

    ``snapshot`` (a path prefix) makes ``save``/``load`` write ``<prefix>.json`` for the entries and
    ``<prefix>.npz`` for their vectors, so a restarted proxy keeps its cache without a Redis.
    """

    def __init__(self, max_entries: int = 100_000, *, clock: Clock = time.time) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries={max_entries}: must be at least 1")
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[int, Entry] = OrderedDict()
        self._exact: dict[tuple[str, str], int] = {}
        self._next_id = 1
        self._lookups: dict[str | None, list[int]] = {}
        self._lookups_lock = threading.Lock()  # lookups are counted from several threads, outside the cache's lock

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, entry: Entry) -> list[int]:
        self._entries[entry.id] = entry
        self._entries.move_to_end(entry.id)
        self._exact[(entry.scope, entry.text_hash)] = entry.id
        evicted: list[int] = []
        while len(self._entries) > self.max_entries:
            oldest = next(iter(self._entries))
            self.delete(oldest)
            evicted.append(oldest)
        return evicted

    def get(self, entry_id: int) -> Entry | None:
        entry = self._entries.get(entry_id)
        if entry is None:
            return None
        if entry.expired(self.clock()):
            self.delete(entry_id)
            return None
        self._entries.move_to_end(entry_id)
        return entry

    def delete(self, entry_id: int) -> None:
        entry = self._entries.pop(entry_id, None)
        if entry is not None and self._exact.get((entry.scope, entry.text_hash)) == entry_id:
            del self._exact[(entry.scope, entry.text_hash)]

    def find_exact(self, scope: str, text_hash: str) -> int | None:
        return self._exact.get((scope, text_hash))

    def entries(self) -> Iterator[Entry]:
        now = self.clock()
        # ``list`` copies in one step, so an admin reading entries from another thread never sees the dict change.
        return iter([e for e in list(self._entries.values()) if not e.expired(now)])

    def flush(self) -> int:
        removed = len(self._entries)
        self._entries.clear()
        self._exact.clear()
        return removed

    def count_lookup(self, tenant: str, hit: bool) -> None:
        with self._lookups_lock:
            counts = self._lookups.setdefault(tenant, [0, 0])
            counts[0] += 1
            counts[1] += int(hit)

    def lookup_counts(self) -> dict[str | None, tuple[int, int]]:
        with self._lookups_lock:
            return {tenant: (lookups, hits) for tenant, (lookups, hits) in self._lookups.items()}

    def save(self, prefix: str | os.PathLike[str]) -> None:
        """Writes the live entries, least recently used first, so ``load`` restores the LRU order too."""
        live = list(self.entries())
        prefix = Path(prefix)
        prefix.parent.mkdir(parents=True, exist_ok=True)
        rows = [
            {"id": e.id, "scope": e.scope, "text": e.text, "text_hash": e.text_hash, "response": e.response,
             "created_at": e.created_at, "expires_at": e.expires_at, "tenant": e.tenant}
            for e in live
        ]
        vectors = np.stack([e.vector for e in live]) if live else np.zeros((0, 0), dtype=np.float32)
        np.savez(prefix.with_suffix(".tmp.npz"), vectors=vectors)
        prefix.with_suffix(".tmp.npz").replace(prefix.with_suffix(".npz"))
        document = {"version": 1, "next_id": self._next_id, "entries": rows}
        prefix.with_suffix(".tmp.json").write_text(json.dumps(document))
        prefix.with_suffix(".tmp.json").replace(prefix.with_suffix(".json"))

    def load(self, prefix: str | os.PathLike[str]) -> int:
        """Restores a snapshot written by ``save``; returns how many live entries it held."""
        prefix = Path(prefix)
        document = json.loads(prefix.with_suffix(".json").read_text())
        if document.get("version") != 1:
            raise ValueError(f"{prefix}.json: unknown snapshot version {document.get('version')!r}")
        with np.load(prefix.with_suffix(".npz"), allow_pickle=False) as stored:
            vectors = stored["vectors"]
        now = self.clock()
        for row, vector in zip(document["entries"], vectors, strict=True):
            entry = Entry(vector=np.asarray(vector, dtype=np.float32), **row)
            if not entry.expired(now):
                self.put(entry)
        self._next_id = max(self._next_id, int(document["next_id"]))
        return len(self)
