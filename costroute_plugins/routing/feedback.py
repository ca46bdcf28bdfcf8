"""Thumbs-down feedback: a bad answer from a tier sends prompts like it one tier up from then on.

The router remembers, per response id, the tenant, the tier that served it and the prompt's embedding (the
MiniLM vector the router and cache already computed). A thumbs-down on that id stores an *escalation*: that
embedding with a tier floor one above the tier that answered. A later request from the same tenant whose
embedding is within ``similarity`` (cosine) of an escalation is served at that floor or higher. Escalations
are per tenant, so one tenant's ratings neither cost another tenant money nor reveal its prompts through
routing, and bounded in number and age, so a flood of ratings cannot send everything to premium forever.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from costroute_plugins.routing.feedback_store import (
    Escalation,
    FeedbackStore,
    MemoryFeedbackStore,
    RedisFeedbackStore,
    Served,
)

#: Seconds the request path stops writing to a store that just failed (reads already run once per refresh_s).
WRITE_BACKOFF_S = 5.0


class FeedbackSettings(BaseModel):
    """``costroute.routing.feedback``."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="accept ratings on POST /costroute/feedback and apply escalations")
    similarity: float = Field(0.8, ge=0.5, le=1.0, description="cosine similarity that makes a prompt 'similar'")
    response_ttl_s: float = Field(3_600, gt=0, description="how long after an answer it can still be rated; each "
                                  "routed answer keeps ~1 KB (its prompt's embedding) that long")
    max_responses: int = Field(20_000, ge=1, description="without Redis: answers remembered, oldest dropped first")
    escalation_ttl_s: float = Field(30 * 86_400, gt=0, description="how long an escalation lasts")
    max_escalations: int = Field(2_000, ge=1, le=1_000_000, description="newest kept per tenant; each "
                                 "request compares its embedding with its tenant's (~0.2 ms per 1,000 on one core)")
    refresh_s: float = Field(1.0, ge=0.0, description="how often a replica checks Redis for new escalations")
    key_prefix: str = Field("costroute:feedback:", min_length=1, description="Redis key prefix")


class FeedbackError(ValueError):
    """The rating cannot be applied; ``status`` is the HTTP status the caller gets."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class FeedbackResult:
    rating: Literal["up", "down"]
    served_tier: str
    escalated_to: str | None


def parse_rating(value: object) -> Literal["up", "down"]:
    """``"up"``/``"down"`` (also thumbs_up/thumbs_down) or ``1``/``-1``."""
    if isinstance(value, str) and value.strip().lower() in ("up", "down", "thumbs_up", "thumbs_down"):
        return "up" if value.strip().lower().endswith("up") else "down"
    if isinstance(value, int) and not isinstance(value, bool) and value in (1, -1):
        return "up" if value == 1 else "down"
    raise FeedbackError(f"rating: {value!r} is not a rating; send \"up\" or \"down\" (or 1 / -1)", 400)


class FeedbackService:
    """Remembers answers, turns thumbs-downs into escalations, and finds the escalation a prompt falls under."""

    def __init__(self, settings: FeedbackSettings, tiers: Sequence[str], store: FeedbackStore | None = None,
                 clock=time.time) -> None:
        self.settings = settings
        self.tiers = list(tiers)
        self.store = store or MemoryFeedbackStore(clock=clock)
        self.clock = clock
        self._lock = threading.Lock()
        self._loaded_version: int | None = None
        self._checked_at = -float("inf")
        self._by_tenant: dict[str, tuple[np.ndarray, list[Escalation]]] = {}
        # request id -> (what answered, whether the request id is already in the store)
        self._pending: OrderedDict[str, tuple[Served, bool]] = OrderedDict()
        self._writes_paused_until = -float("inf")

    @classmethod
    def build(cls, settings: FeedbackSettings, tiers: Sequence[str], redis_url: str | None) -> FeedbackService:
        if not redis_url:
            return cls(settings, tiers, MemoryFeedbackStore(settings.max_responses))
        from costroute_plugins.redis_clients import sync_client

        return cls(settings, tiers, RedisFeedbackStore(sync_client(redis_url), settings.key_prefix))

    def remember(self, response_ids: Sequence[str], served: Served) -> None:
        ids = [response_id for response_id in dict.fromkeys(response_ids) if response_id]
        if ids:
            self.store.remember(ids, served, self.settings.response_ttl_s)

    def _write(self, response_ids: Sequence[str], served: Served) -> None:
        """``remember`` on the request path: after a store failure, writes pause for ``WRITE_BACKOFF_S`` so an
        outage costs one failed call, not one per request (those answers cannot be rated meanwhile)."""
        now = self.clock()
        if now < self._writes_paused_until:
            return
        try:
            self.remember(response_ids, served)
        except Exception:
            self._writes_paused_until = now + WRITE_BACKOFF_S
            raise

    def routed(self, request_id: str, served: Served, *, answer_follows: bool = False) -> None:
        """At decision time: rateable by request id (LiteLLM's ``x-litellm-call-id``), streaming included.

        ``answer_follows``: the caller will report this request's answer through ``answered`` before the answer
        leaves (the proxy does for non-streamed requests). The request id is then stored with the response id in
        that one write, instead of in a round trip of its own now: rateable by both ids from the moment the
        client has the answer, as before, at one store write per request instead of two."""
        with self._lock:
            self._pending[request_id] = (served, not answer_follows)
            while len(self._pending) > 4096:
                self._pending.popitem(last=False)
        if not answer_follows:
            self._write([request_id], served)

    def answered(self, request_id: str, response_id: str | None, tier: str | None) -> None:
        """When the answer is known: rateable by the response's ``id`` too, recording the tier that really
        answered (a fallback may have moved it up).

        The proxy calls this on its event loop and the write blocks it for one round trip (~0.5 ms on loopback).
        redis.asyncio was tried and took ~4 ms per write inside the proxy: the answer waits less this way."""
        with self._lock:
            pending = self._pending.pop(request_id, None)
        if pending is None:
            return
        served, request_id_stored = pending
        moved = False
        if tier is not None and tier in self.tiers and tier != served.tier:
            served, moved = Served(served.tenant, tier, served.embedding), True
        self._write([response_id or "", request_id if moved or not request_id_stored else ""], served)

    def rate(self, response_id: str, tenant: str, rating: Literal["up", "down"]) -> FeedbackResult:
        """Apply a rating from ``tenant``; another tenant's response id is as unknown as an expired one."""
        served = self.store.recall(response_id)
        if served is None or served.tenant != tenant:
            raise FeedbackError(f"response_id {response_id!r}: no answer routed by costroute with this id for this "
                                f"key in the last {self.settings.response_ttl_s:g} s (only model 'auto' answers "
                                "can be rated)", 404)
        index = self.tiers.index(served.tier) if served.tier in self.tiers else len(self.tiers) - 1
        if rating == "up" or index == len(self.tiers) - 1:
            return FeedbackResult(rating, served.tier, None)
        target = self.tiers[index + 1]
        escalation = Escalation(tenant, target, served.embedding, self.clock() + self.settings.escalation_ttl_s)
        self.store.add_escalation(escalation, self.settings.max_escalations)
        self._loaded_version = None  # this replica applies it from the next request on
        self._checked_at = -float("inf")
        return FeedbackResult(rating, served.tier, target)

    def _refresh(self) -> None:
        now = self.clock()
        if now - self._checked_at < self.settings.refresh_s:
            return
        self._checked_at = now
        version = self.store.version()
        if version == self._loaded_version:
            return
        grouped: dict[str, list[Escalation]] = {}
        for escalation in self.store.escalations():
            grouped.setdefault(escalation.tenant, []).append(escalation)
        self._by_tenant = {tenant: (np.stack([e.embedding for e in items]).astype(np.float32), items)
                           for tenant, items in grouped.items()}
        self._loaded_version = version

    def floor(self, tenant: str, embedding: np.ndarray) -> tuple[str, float] | None:
        """The highest escalated tier among this tenant's escalations similar to ``embedding``, and the best
        similarity among those; ``None`` when no escalation is near."""
        with self._lock:
            self._refresh()
            found = self._by_tenant.get(tenant)
        if found is None:
            return None
        matrix, items = found
        # einsum, not ``@``: a BLAS matrix-vector product fans out to threads, which on a busy proxy host costs
        # milliseconds of waiting; one core does 2,000 x 384 in well under a millisecond.
        similarities = np.einsum("ij,j->i", matrix, np.asarray(embedding, dtype=np.float32))
        near = np.flatnonzero(similarities >= self.settings.similarity)
        now = self.clock()
        live = [i for i in near if items[i].expires_at > now]
        if not live:
            return None
        best = max(live, key=lambda i: (self.tiers.index(items[i].tier) if items[i].tier in self.tiers else -1,
                                        similarities[i]))
        return items[best].tier, float(similarities[best])
