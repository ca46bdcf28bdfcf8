"""The in-memory store: TTL, least-recently-used eviction and snapshots that survive a restart."""

from __future__ import annotations

import numpy as np

from costroute_plugins.cache.store import Entry, MemoryStore


def _entry(store: MemoryStore, text: str, expires_at: float | None = None) -> Entry:
    return Entry(id=store.new_id(), scope="s", text=text, text_hash=f"h-{text}", response={"text": text},
                 vector=np.ones(4, dtype=np.float32) / 2, created_at=0.0, expires_at=expires_at)


def test_an_entry_past_its_ttl_is_gone(clock):
    store = MemoryStore(clock=clock)
    entry = _entry(store, "a", expires_at=clock() + 10)
    store.put(entry)
    assert store.get(entry.id) == entry
    clock.advance(11)
    assert store.get(entry.id) is None
    assert store.find_exact("s", "h-a") is None


def test_the_least_recently_used_entry_is_evicted_and_reported(clock):
    store = MemoryStore(max_entries=2, clock=clock)
    first, second, third = (_entry(store, t) for t in "abc")
    store.put(first)
    store.put(second)
    store.get(first.id)  # first is now more recent than second
    assert store.put(third) == [second.id]
    assert store.get(second.id) is None and len(store) == 2


def test_a_snapshot_restores_live_entries_after_a_restart(tmp_path, clock):
    store = MemoryStore(clock=clock)
    keep, drop = _entry(store, "keep"), _entry(store, "drop", expires_at=clock() + 5)
    store.put(keep)
    store.put(drop)
    store.save(tmp_path / "cache")
    clock.advance(10)
    restarted = MemoryStore(clock=clock)
    assert restarted.load(tmp_path / "cache") == 1
    restored = restarted.get(keep.id)
    assert restored.response == {"text": "keep"} and np.allclose(restored.vector, keep.vector)
    assert restarted.new_id() > drop.id
