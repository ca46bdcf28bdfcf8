"""Semantic cache core, independent of LiteLLM: small parts behind small base classes, each swappable.

    request = scope_for(messages, tenant=..., model=..., params=...)      # scope.py
    cache = SemanticCache.from_config(SemanticCacheConfig.parse(section), SentenceTransformerEmbedder())
    hit = cache.lookup(request.scope, request.text)                         # Hit | None
    cache.insert(request.scope, request.text, response_body)                # False when admission refuses

Parts: ``embedding.Embedder`` (shared with the router), ``index.VectorIndex`` (FAISS flat -> IVF),
``store.EntryStore`` (``MemoryStore``, ``redis_store.RedisStore``), ``verifier.HitVerifier`` (rules + learned
logistic regression from a JSON artifact), ``admission.AdmissionPolicy`` (PII/secrets, TTLs, broken responses).
"""

from costroute_plugins.cache.admission import AdmissionPolicy
from costroute_plugins.cache.config import SemanticCacheConfig, SemanticCacheConfigError
from costroute_plugins.cache.index import FaissIndex, VectorIndex
from costroute_plugins.cache.scope import CacheableRequest, NotCacheable, Scope, scope_for
from costroute_plugins.cache.semantic_cache import Hit, SemanticCache
from costroute_plugins.cache.store import EntryStore, MemoryStore
from costroute_plugins.cache.verifier import ChainVerifier, HitVerifier, LearnedVerifier, RuleVerifier

__all__ = [
    "AdmissionPolicy", "CacheableRequest", "ChainVerifier", "EntryStore", "FaissIndex", "Hit", "HitVerifier",
    "LearnedVerifier", "MemoryStore", "NotCacheable", "RuleVerifier", "Scope", "SemanticCache",
    "SemanticCacheConfig", "SemanticCacheConfigError", "VectorIndex", "scope_for",
]
