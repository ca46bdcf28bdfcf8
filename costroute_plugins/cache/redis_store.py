"""Entries shared by every proxy replica through Redis.

Each entry is a hash whose expiry Redis enforces, so a stale answer disappears even if no replica is running.
Inserts and deletes are appended to a Redis stream; each replica replays the stream into its own FAISS index
(``changes``) and builds that index from all live entries at start (``entries``). A sorted set of last-use
times bounds the number of entries with least-recently-used eviction across replicas.

Keys, under ``prefix``: ``<prefix>e:<id>`` entry hash, ``<prefix>x:<scope>:<text hash>`` exact-match pointer,
``<prefix>lru`` sorted set, ``<prefix>seq`` id counter, ``<prefix>events`` stream, ``<prefix>lookups`` and
``<prefix>hits`` per-tenant counters (hashes).

An operator's flush is one ``flush`` event, appended before the entries go: a replica replaying it drops its whole
index, and whatever is inserted meanwhile comes after it in the stream, so it is indexed again.

A lookup is one round trip (``fetch``: the exact-match pointer and the entries it may serve, pipelined). What
it used to add is off the request path: replaying the stream is a follower thread's job (``cache/follower.py``),
and lookup counts wait in the process for the next pipeline this store sends (a lookup's, an insert's) or the
follower's next turn, a fraction of a second later.

No operation needs its keys in one slot, so on Redis Cluster the entries and pointers spread over every master by
their ids and prompts (the singletons ``lru``, ``seq``, ``events``, ``lookups`` and ``hits`` each land on one).
Writes to several keys are pipelines, never transactions: an insert stores the entry first and appends its event
once that has succeeded (one more round trip, well under a millisecond), so a replica replaying the event always
finds the entry, whichever masters hold the two. Scans visit every master.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from costroute_plugins.cache.store import Change, Clock, Entry, EntryStore, Fetched
from costroute_plugins.cache.usage import TenantUsage
from costroute_plugins.redis_clients import SyncClient

# Entries an administrative scan reads per round trip.
SCAN_BATCH = 1000
# KEYS: an exact-match pointer. ARGV: an entry id. Deletes the pointer only while it names that entry.
_DELETE_IF_POINTS_HERE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class RedisStore(EntryStore):
    def __init__(
        self,
        client: SyncClient,
        *,
        prefix: str = "costroute:cache:",
        max_entries: int = 100_000,
        stream_max_len: int = 100_000,
        clock: Clock = time.time,
    ) -> None:
        # Any: redis-py types each reply as the union over RESP2/RESP3 and decode_responses (bytes | str, list |
        # dict); this store's client speaks RESP2 with bytes replies, which its stubs cannot express.
        self.client: Any = client
        self.prefix = prefix
        self.max_entries = max_entries
        self.stream_max_len = stream_max_len
        self.clock = clock
        self._last_event = "$"
        # Held back until the next pipeline: lookups and hits per tenant, and ids Redis expired (for ``lru``).
        self._pending_lock = threading.Lock()
        self._lookups: Counter[str] = Counter()
        self._hits: Counter[str] = Counter()
        self._gone: set[int] = set()

    @property
    def shared(self) -> bool:
        return True

    def _entry_key(self, entry_id: int) -> str:
        return f"{self.prefix}e:{entry_id}"

    def _exact_key(self, scope: str, text_hash: str) -> str:
        return f"{self.prefix}x:{scope}:{text_hash}"

    def start_following(self) -> None:
        """Call before ``entries()`` at start: changes made while the index is being built are not lost."""
        last = self.client.xrevrange(f"{self.prefix}events", count=1)
        self._last_event = last[0][0].decode() if last else "0-0"

    def _send(self, build: Callable[[Any], None]) -> list[Any]:
        """One pipeline: what was held back (lookup counts, ids Redis expired), then what ``build`` adds; the
        replies to ``build``'s commands. What was held back is kept for the next one if this one fails."""
        with self._pending_lock:
            lookups, hits, gone = self._lookups, self._hits, self._gone
            self._lookups, self._hits, self._gone = Counter(), Counter(), set()
        pipe = self.client.pipeline(transaction=False)
        for tenant, count in lookups.items():
            pipe.hincrby(f"{self.prefix}lookups", tenant, count)
        for tenant, count in hits.items():
            pipe.hincrby(f"{self.prefix}hits", tenant, count)
        if gone:
            pipe.zrem(f"{self.prefix}lru", *(str(entry_id) for entry_id in gone))
        ahead = len(lookups) + len(hits) + bool(gone)
        build(pipe)
        try:
            replies = pipe.execute()
        except Exception:
            with self._pending_lock:
                self._lookups.update(lookups)
                self._hits.update(hits)
                self._gone |= gone
            raise
        return replies[ahead:]

    def fetch(self, entry_ids: Sequence[int], exact: tuple[str, str] | None = None) -> Fetched:
        ids = list(dict.fromkeys(entry_ids))
        now = self.clock()

        def build(pipe: Any) -> None:
            if exact is not None:
                pipe.get(self._exact_key(*exact))
            for entry_id in ids:
                pipe.hgetall(self._entry_key(entry_id))
                pipe.zadd(f"{self.prefix}lru", {str(entry_id): now}, xx=True)  # never re-adds a gone entry

        replies = self._send(build)
        pointer = None
        if exact is not None:
            value, replies = replies[0], replies[1:]
            pointer = int(value) if value is not None else None
        entries: dict[int, Entry] = {}
        for entry_id, raw in zip(ids, replies[::2], strict=True):
            if not raw:  # Redis expired it: forget it in ``lru`` with the next pipeline
                with self._pending_lock:
                    self._gone.add(entry_id)
                continue
            entry = self._decode(entry_id, raw)
            if not entry.expired(now):
                entries[entry_id] = entry
        return Fetched(pointer, entries)

    def new_id(self) -> int:
        return int(self.client.incr(f"{self.prefix}seq"))

    def put(self, entry: Entry) -> list[int]:
        ttl_ms = None if entry.expires_at is None else max(1, math.ceil((entry.expires_at - self.clock()) * 1000))
        fields = {
            "scope": entry.scope,
            "text": entry.text,
            "text_hash": entry.text_hash,
            "response": json.dumps(entry.response, ensure_ascii=False),
            "vector": np.asarray(entry.vector, dtype=np.float32).tobytes(),
            "created_at": repr(entry.created_at),
            "expires_at": "" if entry.expires_at is None else repr(entry.expires_at),
        }
        if entry.tenant is not None:
            fields["tenant"] = entry.tenant
        def build(pipe: Any) -> None:
            pipe.hset(self._entry_key(entry.id), mapping=fields)
            pipe.set(self._exact_key(entry.scope, entry.text_hash), entry.id, px=ttl_ms)
            if ttl_ms is not None:
                pipe.pexpire(self._entry_key(entry.id), ttl_ms)
            pipe.zadd(f"{self.prefix}lru", {str(entry.id): self.clock()})
            pipe.zcard(f"{self.prefix}lru")

        size = int(self._send(build)[-1])
        self._event("insert", entry.id)  # only once the entry is there: a replica replaying it reads the entry
        return self._evict(size)

    def _evict(self, size: int) -> list[int]:
        excess = size - self.max_entries
        if excess <= 0:
            return []
        evicted = [int(member) for member, _score in self.client.zpopmin(f"{self.prefix}lru", excess)]
        for entry_id in evicted:
            self.delete(entry_id)
        return evicted

    def _decode(self, entry_id: int, raw: dict[bytes, bytes]) -> Entry:
        expires = raw[b"expires_at"].decode()
        return Entry(
            id=entry_id,
            scope=raw[b"scope"].decode(),
            text=raw[b"text"].decode(),
            text_hash=raw[b"text_hash"].decode(),
            response=json.loads(raw[b"response"]),
            vector=np.frombuffer(raw[b"vector"], dtype=np.float32).copy(),
            created_at=float(raw[b"created_at"]),
            expires_at=float(expires) if expires else None,
            tenant=raw[b"tenant"].decode() if b"tenant" in raw else None,
        )

    def get(self, entry_id: int) -> Entry | None:
        return self.fetch([entry_id]).entries.get(entry_id)

    def delete(self, entry_id: int) -> None:
        key = self._entry_key(entry_id)
        scope, text_hash = self.client.hmget(key, "scope", "text_hash")
        if scope is not None and text_hash is not None:
            # Remove the pointer only if it still points here; a newer entry may have taken the same prompt.
            self.client.eval(_DELETE_IF_POINTS_HERE, 1, self._exact_key(scope.decode(), text_hash.decode()),
                             str(entry_id))
        pipe = self.client.pipeline(transaction=False)
        pipe.delete(key)
        pipe.zrem(f"{self.prefix}lru", str(entry_id))
        pipe.xadd(f"{self.prefix}events", {"op": "delete", "id": entry_id}, maxlen=self.stream_max_len,
                  approximate=True)
        pipe.execute()

    def find_exact(self, scope: str, text_hash: str) -> int | None:
        value = self.client.get(self._exact_key(scope, text_hash))
        return int(value) if value is not None else None

    def entries(self) -> Iterator[Entry]:
        for key in self.client.scan_iter(match=f"{self.prefix}e:*", count=1000):
            entry_id = int(key.decode().rsplit(":", 1)[1])
            raw = self.client.hgetall(key)
            if raw:
                entry = self._decode(entry_id, raw)
                if not entry.expired(self.clock()):
                    yield entry

    def __len__(self) -> int:
        return int(self.client.zcard(f"{self.prefix}lru"))

    def changes(self, block_s: float = 0.0) -> list[Change]:
        if self._last_event == "$":
            self.start_following()
        since = self._last_event
        block = {"block": max(1, int(block_s * 1000))} if block_s > 0 else {}
        events = self.client.xread({f"{self.prefix}events": since}, count=10_000, **block) or []
        found: list[Change] = []
        last = since
        for _stream, messages in events:
            for message_id, fields in messages:
                last = message_id.decode()
                found.append(Change(fields[b"op"].decode(), int(fields[b"id"])))
        if self._last_event != since:  # ``start_following`` moved on meanwhile (a rebuild): these are stale
            return []
        self._last_event = last
        return found

    def flush_counts(self) -> None:
        self._send(lambda pipe: None)

    # -- administration ------------------------------------------------------------------------------------------
    def _event(self, op: str, entry_id: int) -> None:
        self.client.xadd(f"{self.prefix}events", {"op": op, "id": entry_id}, maxlen=self.stream_max_len,
                         approximate=True)

    def _scan(self, match: str) -> Iterator[list[bytes]]:
        """The keys matching ``match`` (under the prefix), a batch at a time."""
        batch: list[bytes] = []
        for key in self.client.scan_iter(match=f"{self.prefix}{match}", count=SCAN_BATCH):
            batch.append(key)
            if len(batch) == SCAN_BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def _entry_id(self, key: bytes) -> int:
        return int(key.decode().rsplit(":", 1)[1])

    def flush(self) -> int:
        self._event("flush", 0)  # first: an entry stored while the keys go is replayed after it, so it stays
        removed = 0
        for keys in self._scan("e:*"):
            removed += int(self.client.delete(*keys))
        for keys in self._scan("x:*"):
            self.client.delete(*keys)
        self.client.delete(f"{self.prefix}lru")
        return removed

    def _fields(self, *names: str) -> Iterator[tuple[int, list[bytes | None]]]:
        """(id, the named fields) of every entry, one pipelined round trip per batch."""
        for keys in self._scan("e:*"):
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.hmget(key, *names)
            for key, values in zip(keys, pipe.execute(), strict=True):
                if any(value is not None for value in values):  # not expired between the scan and the read
                    yield self._entry_id(key), values

    def tenant_entries(self, tenant: str, text_hash: str | None = None) -> list[int]:
        wanted_tenant, wanted_hash = tenant.encode(), None if text_hash is None else text_hash.encode()
        return [entry_id for entry_id, (owner, hashed) in self._fields("tenant", "text_hash")
                if owner == wanted_tenant and (wanted_hash is None or hashed == wanted_hash)]

    def usage(self) -> dict[str | None, TenantUsage]:
        usage: dict[str | None, TenantUsage] = {}
        for keys in self._scan("e:*"):
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.hget(key, "tenant")
                for field in ("text", "response", "vector"):
                    pipe.hstrlen(key, field)
            replies = pipe.execute()
            for at in range(0, len(replies), 4):
                owner, *sizes = replies[at:at + 4]
                if any(sizes):  # not expired between the scan and the read
                    tenant = owner.decode() if owner is not None else None
                    usage.setdefault(tenant, TenantUsage()).add_entry(sum(int(size) for size in sizes))
        for tenant, (lookups, hits) in self.lookup_counts().items():
            usage.setdefault(tenant, TenantUsage()).add_lookups(lookups, hits)
        return usage

    def count_lookup(self, tenant: str, hit: bool) -> None:
        """Held back (no round trip of its own): written with the next pipeline this store sends."""
        with self._pending_lock:
            self._lookups[tenant] += 1
            if hit:
                self._hits[tenant] += 1

    def lookup_counts(self) -> dict[str | None, tuple[int, int]]:
        def build(pipe: Any) -> None:
            pipe.hgetall(f"{self.prefix}lookups")
            pipe.hgetall(f"{self.prefix}hits")

        lookups, hits = self._send(build)  # this replica's held-back counts written first
        return {tenant.decode(): (int(count), int(hits.get(tenant, 0))) for tenant, count in lookups.items()}

    def clear(self) -> None:
        """Deletes every key under the prefix (tests, or an operator flushing one cache)."""
        for key in self.client.scan_iter(match=f"{self.prefix}*", count=1000):
            self.client.delete(key)
