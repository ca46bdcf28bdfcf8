"""The semantic cache: exact tier, then vector search, then verification; admission on the way in.

Lookup order and why:
1. exact tier: a prompt equal after normalisation (case, whitespace, quotes, sentence punctuation; never an
   operator or a digit: ``text.exact_form``) to a stored one in the same scope is served without embedding or
   verification, because nothing answer-changing can differ;
2. vector search in the scope's own index (tenants, system prompts and conversations never share an index),
   candidates above ``similarity_threshold`` only, and only when the embedder reads the whole query and the whole
   candidate: all-MiniLM-L6-v2 stops after 256 word pieces, so two prompts sharing a long prefix (a runbook, a RAG
   context, few-shot examples) embed alike however their endings differ. Such prompts get exact matches only,
   and the lookup says so (``Lookup.skipped``) for the caller to count;
3. each candidate must pass the verifier, which refuses pairs that differ in a number, operator, entity, ...

Nothing here knows about LiteLLM: the proxy adapter turns a request into ``scope_for(...)`` and a response
into a JSON-serialisable mapping (the OpenAI response body).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from costroute_plugins.cache.admission import AdmissionPolicy
from costroute_plugins.cache.config import SemanticCacheConfig
from costroute_plugins.cache.index import FaissIndex, VectorIndex
from costroute_plugins.cache.scope import CacheableRequest, Scope, scope_for
from costroute_plugins.cache.store import Clock, Entry, EntryStore, Fetched, MemoryStore
from costroute_plugins.cache.text import text_hash
from costroute_plugins.cache.verifier import (
    DEFAULT_ARTIFACT,
    ChainVerifier,
    HitVerifier,
    LearnedVerifier,
    RuleVerifier,
    SameWordsAccepted,
)
from costroute_plugins.embedding import Embedder

# A query's embedding, a function that computes it when it is needed, or None to embed with the cache's embedder.
VectorSource = np.ndarray | Callable[[], np.ndarray] | None
# Whether the embedder reads all of a text: only then does its embedding stand for the whole text.
Window = Callable[[str], bool]
# For an embedder whose tokenizer cannot be found: texts up to this many characters count as read whole. Word-piece
# and BPE tokenizers give Latin-script text at least a character a token, and sentence embedders read 128 or more.
UNKNOWN_WINDOW_CHARS = 128

# Why a lookup left a tier out (``Lookup.skipped``): worth counting, each is a prompt the cache could not judge.
SKIPPED_TOO_LONG = "prompt longer than cache.max_prompt_chars"
SKIPPED_BEYOND_WINDOW = "the embedder does not read the whole prompt: exact matches only"


@dataclass(frozen=True)
class Hit:
    response: Mapping[str, Any]
    similarity: float
    matched_text: str
    kind: Literal["exact", "semantic"]
    entry_id: int
    reason: str


@dataclass(frozen=True)
class Lookup:
    """A lookup's outcome: the hit (None on a miss) and, when a tier was left out, why (``SKIPPED_*``);
    ``verify_s``: how long the verifier took over the semantic candidates (None: there were none), for the proxy's
    per-stage time."""

    hit: Hit | None
    skipped: str | None = None
    verify_s: float | None = None


@dataclass(frozen=True)
class TokenWindow:
    """Counts a text's tokens as the embedder's own tokenizer does, special tokens included: the text is read whole
    when they fit in ``max_tokens`` and none is the unknown token (two prompts differing only in characters the
    tokenizer cannot read, an emoji say, embed alike)."""

    tokenizer: Any  # a ``tokenizers.Tokenizer`` with truncation and padding off
    max_tokens: int
    unknown_id: int | None

    def __call__(self, text: str) -> bool:
        ids = self.tokenizer.encode(text).ids
        return len(ids) <= self.max_tokens and self.unknown_id not in ids


def _model_folder(embedder: object) -> Path | None:
    """The sentence-transformers folder behind an embedder (``model_path``), looking through wrappers (``inner``)."""
    while embedder is not None:
        path = getattr(embedder, "model_path", None)
        if path is not None:
            return Path(path)
        embedder = getattr(embedder, "inner", None)
    return None


@lru_cache(maxsize=8)
def _token_window(folder: Path) -> TokenWindow | None:
    """The window of a sentence-transformers folder; None without ``tokenizer.json`` and ``sentence_bert_config.json``.

    Memoised per folder: the files do not change while the process runs, and reading them costs tens of
    milliseconds a cache."""
    from tokenizers import Tokenizer

    tokenizer_file, settings_file = folder / "tokenizer.json", folder / "sentence_bert_config.json"
    if not (tokenizer_file.is_file() and settings_file.is_file()):
        return None
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    max_tokens = int(json.loads(settings_file.read_text())["max_seq_length"])
    tokenizer.no_truncation()
    tokenizer.no_padding()
    unknown = getattr(tokenizer.model, "unk_token", None)
    return TokenWindow(tokenizer, max_tokens, tokenizer.token_to_id(unknown) if unknown else None)


def embedder_window(embedder: Embedder) -> Window:
    """Whether ``embedder`` reads a text whole: by its tokenizer when its model folder has one, else by length."""
    folder = _model_folder(embedder)
    window = _token_window(folder) if folder is not None else None
    return window if window is not None else (lambda text: len(text) <= UNKNOWN_WINDOW_CHARS)


class SemanticCache:
    """Thread-safe: the proxy may call it from worker threads so embedding does not block the event loop."""

    def __init__(
        self,
        embedder: Embedder,
        index_factory: Callable[[], VectorIndex],
        store: EntryStore,
        verifier: HitVerifier,
        admission: AdmissionPolicy,
        config: SemanticCacheConfig,
        *,
        clock: Clock = time.time,
        window: Window | None = None,
    ) -> None:
        self.embedder = embedder
        self.index_factory = index_factory
        self.store = store
        self.verifier = verifier
        self.admission = admission
        self.config = config
        self.clock = clock
        self.window = window if window is not None else embedder_window(embedder)
        self._indexes: dict[str, VectorIndex] = {}
        self._scope_of: dict[int, str] = {}
        # This replica's view of the exact-match pointers (scope, text hash) -> id, to read a likely exact hit in
        # the lookup's one round trip; the store's pointer read in the same trip has the last word.
        self._exact_ids: dict[tuple[str, str], int] = {}
        self._hash_of: dict[int, str] = {}
        self._lock = threading.RLock()
        # Bumped by ``rebuild``: changes read from the store before it are not replayed onto the new index.
        self._generation = 0
        #: Set while a follower thread replays the store's changes (``cache/follower.py``): lookups then leave it.
        self.followed = threading.Event()

    @classmethod
    def from_config(
        cls, config: SemanticCacheConfig, embedder: Embedder, store: EntryStore | None = None, *,
        clock: Clock = time.time, rebuild: bool = True,
    ) -> SemanticCache:
        """The cache a config describes; the store defaults to an in-process ``MemoryStore``.

        ``rebuild=False`` leaves building the index from the store to the caller, who may want to come up
        while the store is unreachable and build once it answers.
        """
        rules = RuleVerifier(config.verifier_rules)
        verifier: HitVerifier = rules
        if config.learned_verifier:
            artifact = config.verifier_artifact or DEFAULT_ARTIFACT
            verifier = ChainVerifier(rules, SameWordsAccepted(LearnedVerifier.load(artifact, embedder=embedder.name)))
        admission = config.admission_policy()
        cache = cls(
            embedder,
            lambda: FaissIndex(embedder.dim, ivf_at=config.ivf_at, nprobe=config.nprobe),
            store if store is not None else MemoryStore(config.max_entries, clock=clock),
            verifier,
            admission,
            config,
            clock=clock,
        )
        if rebuild:
            cache.rebuild()
        return cache

    def __len__(self) -> int:
        return len(self._scope_of)

    def _vector(self, text: str, vector: VectorSource) -> np.ndarray:
        if vector is None:
            return self.embedder.embed([text])[0]
        if callable(vector):
            vector = vector()
        return np.asarray(vector, dtype=np.float32).reshape(-1)

    def scope_for(
        self,
        messages: Sequence[Mapping[str, Any]] | None,
        *,
        tenant: str | None,
        model: str,
        params: Mapping[str, Any] | None = None,
        call_type: str | None = None,
    ) -> CacheableRequest:
        """``scope.scope_for`` with this cache's settings (``cache_sampled``, ``key_params``, ``ignored_params``,
        ``max_prompt_chars``); raises ``NotCacheable`` with the reason."""
        return scope_for(
            messages, tenant=tenant, model=model, params=params, cache_sampled=self.config.cache_sampled,
            key_params=self.config.key_params, ignored_params=self.config.ignored_params,
            max_prompt_chars=self.config.max_prompt_chars, call_type=call_type,
        )

    def lookup(self, scope: Scope | str, text: str, vector: VectorSource = None) -> Hit | None:
        """The cached answer for ``text`` in ``scope``, or None; ``find`` also says which tiers were left out."""
        return self.find(scope, text, vector).hit

    def find(self, scope: Scope | str, text: str, vector: VectorSource = None,
             min_similarity: float | None = None, *, exact_checked: bool = False) -> Lookup:
        """The cached answer for ``text`` in ``scope``, if any, and why a tier was left out.

        ``min_similarity`` raises the configured ``similarity_threshold`` for this lookup (the quality loop's
        cache side raises it while audited hits answer other questions too often); it never lowers it.

        ``vector`` is the query's embedding, or a function computing it: a function is only called when the exact
        tier misses, the embedder reads the whole prompt and the scope has entries to search, so a repeated prompt
        is served without embedding at all. ``exact_checked``: the exact tier already missed for this request (a
        caller that looked up once before it had the embedding).

        On a shared store a lookup is one round trip (``EntryStore.fetch``): the exact-match pointer, the entry
        this replica expects it to name and, when the embedding is at hand, the vector search's candidates. Only a
        function-given embedding computed after the exact tier missed costs a second one, for its candidates.
        """
        if len(text) > self.config.max_prompt_chars:
            return Lookup(None, SKIPPED_TOO_LONG)
        key = scope.key if isinstance(scope, Scope) else scope
        if not self.followed.is_set():
            self.sync()
        exact = self.config.exact_match and not exact_checked
        hashed = text_hash(text)
        threshold = max(self.config.similarity_threshold, min_similarity or 0.0)
        query = None if vector is None or callable(vector) else np.asarray(vector, dtype=np.float32).reshape(-1)
        whole = None if query is None else self.window(text)  # tokenising a long prompt: outside the lock
        with self._lock:
            likely = self._exact_ids.get((key, hashed)) if exact else None
            candidates = self._search(key, query, threshold) if query is not None and whole else []
        asked = ([likely] if likely is not None else []) + [entry_id for entry_id, _ in candidates]
        fetched = self.store.fetch(asked, (key, hashed) if exact else None)
        if exact:
            hit = self._exact(key, text, fetched, asked)
            if hit is not None:
                return Lookup(hit)
        if whole is None:
            whole = self.window(text)
        if not whole:  # its embedding stands for a prefix of it only
            return Lookup(None, SKIPPED_BEYOND_WINDOW)
        if query is None:
            with self._lock:
                if not self._indexes.get(key):
                    return Lookup(None)
            query = self._vector(text, vector)  # outside the lock: embedding is the slow part
            with self._lock:
                candidates = self._search(key, query, threshold)
            if not candidates:
                return Lookup(None)
            fetched = self.store.fetch([entry_id for entry_id, _ in candidates])
        return self._verified(text, query, candidates, fetched)

    def _search(self, key: str, query: np.ndarray, threshold: float) -> list[tuple[int, float]]:
        """The scope's nearest entries at ``threshold`` or above, most similar first (hold the lock)."""
        index = self._indexes.get(key)
        if not index:
            return []
        found = []
        for entry_id, similarity in index.search(query, self.config.top_k):
            if similarity < threshold:
                break
            found.append((entry_id, similarity))
        return found

    def _verified(self, text: str, query: np.ndarray, candidates: list[tuple[int, float]],
                  fetched: Fetched) -> Lookup:
        """The first candidate the verifier accepts; candidates gone from the store leave this replica's index."""
        present = []
        with self._lock:
            for entry_id, similarity in candidates:
                entry = fetched.entries.get(entry_id)
                if entry is None:  # expired or evicted elsewhere
                    self._forget(entry_id)
                    continue
                present.append((entry, similarity))
        started = time.perf_counter()
        for entry, similarity in present:  # verification needs no shared state: other lookups go on
            if not self.window(entry.text):  # its embedding stands for a prefix of it only
                continue
            verdict = self.verifier.verify(text, entry.text, similarity, vectors=(query, entry.vector))
            if verdict.accepted:
                return Lookup(Hit(entry.response, similarity, entry.text, "semantic", entry.id, verdict.reason),
                              verify_s=time.perf_counter() - started)
        return Lookup(None, verify_s=time.perf_counter() - started if present else None)

    def _exact(self, key: str, text: str, fetched: Fetched, asked: list[int]) -> Hit | None:
        """The entry the store's exact-match pointer names, if it is this prompt's in this scope (read in a
        second round trip only when this replica expected another: one inserted elsewhere a moment ago)."""
        pointer = fetched.pointer
        if pointer is None:
            return None
        entry = fetched.entries.get(pointer) if pointer in asked else self.store.get(pointer)
        if entry is None or entry.scope != key:
            return None
        if self.config.verify_exact:
            # The query is not embedded on this tier; its text equals the entry's in ``exact_form``, so the
            # entry's vector stands in for it.
            verdict = self.verifier.verify(text, entry.text, 1.0, vectors=(entry.vector, entry.vector))
            if not verdict.accepted:
                return None
        return Hit(entry.response, 1.0, entry.text, "exact", entry.id, "same prompt after normalisation")

    def insert(
        self,
        scope: Scope | str,
        text: str,
        response: Mapping[str, Any],
        vector: VectorSource = None,
        ttl: float | None = None,
    ) -> bool:
        """Stores ``response`` for ``text`` in ``scope``; False when the admission policy refuses it or the prompt is
        longer than ``max_prompt_chars``.

        ``ttl`` can only shorten the admission policy's TTL (a caller cannot keep a time-sensitive answer longer).
        """
        if len(text) > self.config.max_prompt_chars:
            return False
        scope = scope if isinstance(scope, Scope) else Scope(scope)
        admission = self.admission.admit(text, response, scope.context)
        if not admission.admitted:
            return False
        try:
            json.dumps(response)
        except (TypeError, ValueError) as error:
            raise ValueError(f"response must be JSON-serialisable to be cached ({error}); pass the response body")
        lifetimes = [t for t in (admission.ttl_s, ttl) if t is not None]
        now = self.clock()
        hashed = text_hash(text)
        query = self._vector(text, vector)
        with self._lock:
            previous = self.store.find_exact(scope.key, hashed)
            if previous is not None:  # the newer answer replaces the older one
                self.store.delete(previous)
                self._forget(previous)
            entry = Entry(
                id=self.store.new_id(),
                scope=scope.key,
                text=text,
                text_hash=hashed,
                response=response,
                vector=query,
                created_at=now,
                expires_at=now + min(lifetimes) if lifetimes else None,
                tenant=scope.tenant,
            )
            evicted = self.store.put(entry)
            self._add(entry)
            for entry_id in evicted:
                self._forget(entry_id)
        return True

    def _add(self, entry: Entry) -> None:
        index = self._indexes.get(entry.scope)
        if index is None:
            index = self._indexes[entry.scope] = self.index_factory()
        index.add([entry.id], entry.vector.reshape(1, -1))
        self._scope_of[entry.id] = entry.scope
        self._hash_of[entry.id] = entry.text_hash
        self._exact_ids[(entry.scope, entry.text_hash)] = entry.id

    def _forget(self, entry_id: int) -> None:
        scope = self._scope_of.pop(entry_id, None)
        if scope is None:
            return
        hashed = self._hash_of.pop(entry_id)
        if self._exact_ids.get((scope, hashed)) == entry_id:
            del self._exact_ids[(scope, hashed)]
        index = self._indexes.get(scope)
        if index is not None:
            index.remove([entry_id])
            if len(index) == 0:
                del self._indexes[scope]

    def sync(self, block_s: float = 0.0) -> int:
        """Replays other replicas' inserts and deletes (a no-op for a process-local store), waiting up to
        ``block_s`` for one. The store is read outside the lock (lookups go on meanwhile), the inserted entries in
        one round trip; what was read before a ``rebuild`` is dropped, the rebuilt index has it already."""
        generation = self._generation
        changes = self.store.changes(block_s)
        if not changes:
            return 0
        inserted = [change.entry_id for change in changes
                    if change.op == "insert" and change.entry_id not in self._scope_of]  # not this replica's own
        entries = self.store.fetch(inserted).entries if inserted else {}
        with self._lock:
            if generation != self._generation:
                return 0
            for change in changes:
                if change.op == "flush":
                    self._clear()
                elif change.op == "delete":
                    self._forget(change.entry_id)
                elif change.entry_id not in self._scope_of and (entry := entries.get(change.entry_id)) is not None:
                    self._add(entry)
            return len(changes)

    def _clear(self) -> None:
        self._indexes.clear()
        self._scope_of.clear()
        self._hash_of.clear()
        self._exact_ids.clear()

    def remove(self, entry_ids: Iterable[int]) -> int:
        """Deletes these entries from the store and this replica's index; other replicas replay the deletes."""
        with self._lock:
            removed = 0
            for entry_id in entry_ids:
                self.store.delete(entry_id)
                self._forget(entry_id)
                removed += 1
            return removed

    def flush(self) -> int:
        """Deletes every entry; returns how many there were. Other replicas replay the store's flush."""
        with self._lock:
            removed = self.store.flush()
            self._clear()
            return removed

    def rebuild(self) -> int:
        """Builds every scope's index from the store's live entries (at start, or after losing sync)."""
        with self._lock:
            self._generation += 1
            self._clear()
            self.store.start_following()
            for entry in self.store.entries():
                self._add(entry)
            return len(self._scope_of)
