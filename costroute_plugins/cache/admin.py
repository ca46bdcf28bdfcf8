"""What an operator does to a running cache: flush it, purge one tenant, delete one prompt, read its usage.

The store is shared by every replica (Redis), so each operation acts on it and on this replica's index; the others
replay it from the store's event stream at their next lookup (``SemanticCache.sync``), and a lookup reads the
entry from the store anyway, so a removed entry is never served, on any replica, once the call returns.

A purge or a delete finds its entries outside the cache's lock, so this replica's lookups go on during the scan (an
entry stored for the tenant meanwhile may stay), then holds the lock while the entries go; a flush holds it
throughout. Either way the other replicas are never blocked.
"""

from __future__ import annotations

from typing import Any

from costroute_plugins.cache.semantic_cache import SemanticCache
from costroute_plugins.cache.text import text_hash
from costroute_plugins.cache.usage import usage_document


def flush(cache: SemanticCache) -> int:
    """Removes every entry of every tenant; returns how many there were."""
    return cache.flush()


def purge_tenant(cache: SemanticCache, tenant: str) -> int:
    """Removes ``tenant``'s entries in all its scopes (every model, system prompt, conversation, parameters)."""
    return cache.remove(cache.store.tenant_entries(tenant))


def delete_prompt(cache: SemanticCache, tenant: str, prompt: str) -> int:
    """Removes the entries ``prompt`` would hit exactly (equal after normalisation) in any of ``tenant``'s scopes.

    Paraphrases stored as entries of their own stay: each is its own prompt, deleted by its own text."""
    return cache.remove(cache.store.tenant_entries(tenant, text_hash(prompt)))


def stats(cache: SemanticCache) -> dict[str, Any]:
    """Entries, bytes, lookups, hits and hit rate in total and per tenant (the store's figures, every replica's)."""
    return usage_document(cache.store.usage())
