"""Where feedback state lives: which prompt a response answered (for a while), and the escalations it caused.

Two small records: ``Served`` (tenant, tier, prompt embedding) per response id, kept ``response_ttl_s`` so a
rating can still find its prompt, and ``Escalation`` (tenant, tier floor, embedding), kept until it expires or
``max_escalations`` newer ones of the same tenant push it out. ``MemoryFeedbackStore`` serves one replica;
``RedisFeedbackStore`` shares both with every replica, and a version counter lets a replica reload escalations
only when they changed.
Embeddings travel as float16 bytes: half the size, and far finer than any similarity threshold.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from costroute_plugins.redis_clients import slot_prefix


def _pack(vector: np.ndarray) -> str:
    return base64.b64encode(np.asarray(vector, dtype=np.float16).tobytes()).decode()


def _unpack(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.float16)


@dataclass(frozen=True)
class Served:
    """What answered a response: whose request it was, the tier that served it, the prompt's embedding."""

    tenant: str
    tier: str
    embedding: np.ndarray  # kept as float16 (768 bytes): what the stores hold and ship

    def __post_init__(self) -> None:
        object.__setattr__(self, "embedding", np.asarray(self.embedding, dtype=np.float16))

    def to_json(self) -> str:
        return json.dumps({"tenant": self.tenant, "tier": self.tier, "embedding": _pack(self.embedding)})

    @classmethod
    def from_json(cls, text: str | bytes) -> Served:
        data = json.loads(text)
        return cls(data["tenant"], data["tier"], _unpack(data["embedding"]))


@dataclass(frozen=True)
class Escalation:
    """Prompts like ``embedding`` from ``tenant`` go to ``tier`` or above until ``expires_at`` (epoch s)."""

    tenant: str
    tier: str
    embedding: np.ndarray
    expires_at: float
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_json(self) -> str:
        return json.dumps({"id": self.id, "tenant": self.tenant, "tier": self.tier, "expires_at": self.expires_at,
                           "embedding": _pack(self.embedding)})

    @classmethod
    def from_json(cls, text: str | bytes) -> Escalation:
        data = json.loads(text)
        return cls(data["tenant"], data["tier"], _unpack(data["embedding"]), float(data["expires_at"]), data["id"])


class FeedbackStore(ABC):
    """Response memory and the escalation list, bounded in time and size."""

    @abstractmethod
    def remember(self, response_ids: list[str], served: Served, ttl_s: float) -> None: ...

    @abstractmethod
    def recall(self, response_id: str) -> Served | None: ...

    @abstractmethod
    def add_escalation(self, escalation: Escalation, max_escalations: int) -> None: ...

    @abstractmethod
    def version(self) -> int:
        """Changes whenever the escalation list does, so readers reload only then."""

    @abstractmethod
    def escalations(self) -> list[Escalation]:
        """Live escalations, newest last."""


class MemoryFeedbackStore(FeedbackStore):
    """One replica's state; responses beyond ``max_responses`` drop oldest first."""

    def __init__(self, max_responses: int = 20_000, clock=time.time) -> None:
        self.max_responses = max_responses
        self.clock = clock
        self._responses: OrderedDict[str, tuple[float, Served]] = OrderedDict()
        self._escalations: list[Escalation] = []
        self._version = 0
        self._lock = threading.Lock()

    def remember(self, response_ids: list[str], served: Served, ttl_s: float) -> None:
        with self._lock:
            for response_id in response_ids:
                self._responses[response_id] = (self.clock() + ttl_s, served)
                self._responses.move_to_end(response_id)
            while len(self._responses) > self.max_responses:
                self._responses.popitem(last=False)

    def recall(self, response_id: str) -> Served | None:
        with self._lock:
            found = self._responses.get(response_id)
        return found[1] if found and found[0] > self.clock() else None

    def add_escalation(self, escalation: Escalation, max_escalations: int) -> None:
        with self._lock:
            now = self.clock()
            live = [e for e in self._escalations if e.expires_at > now]
            # The bound is per tenant: one tenant's thumbs-downs never push out another's escalations.
            own = [e for e in live if e.tenant == escalation.tenant][-(max_escalations - 1):] if max_escalations > 1 \
                else []
            self._escalations = [e for e in live if e.tenant != escalation.tenant] + own + [escalation]
            self._version += 1

    def version(self) -> int:
        return self._version

    def escalations(self) -> list[Escalation]:
        now = self.clock()
        with self._lock:
            return [e for e in self._escalations if e.expires_at > now]


# KEYS: the tenant's escalations, the tenants that have some, the version. ARGV: now, escalation JSON, its expiry,
# how many the tenant keeps, the tenant.
_ADD_ESCALATION = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[4]) - 1)
redis.call('SADD', KEYS[2], ARGV[5])
return redis.call('INCR', KEYS[3])
"""


class RedisFeedbackStore(FeedbackStore):
    """Keys under ``prefix``: ``r:<response id>`` (expiring strings, spread over a cluster's slots) and, under one
    hash tag so an escalation is added in one script on Redis Cluster too, ``{esc}:t:<tenant>`` (a sorted set per
    tenant scored by expiry), ``{esc}:tenants`` (the tenants that have one), ``{esc}:version`` (counter). The
    escalation keys are few and small (bounded per tenant) and read only when the version moves."""

    def __init__(self, client, prefix: str = "costroute:feedback:", clock=time.time) -> None:
        self.client = client
        self.prefix = prefix
        self.escalation_prefix = slot_prefix(prefix, "esc")
        self.clock = clock

    def remember(self, response_ids: list[str], served: Served, ttl_s: float) -> None:
        value, ttl_ms = served.to_json(), max(1, int(ttl_s * 1000))
        with self.client.pipeline(transaction=False) as pipe:
            for response_id in response_ids:
                pipe.set(f"{self.prefix}r:{response_id}", value, px=ttl_ms)
            pipe.execute()

    def recall(self, response_id: str) -> Served | None:
        value = self.client.get(f"{self.prefix}r:{response_id}")
        return Served.from_json(value) if value else None

    def _tenant_key(self, tenant: str) -> str:
        return f"{self.escalation_prefix}t:{tenant}"

    def add_escalation(self, escalation: Escalation, max_escalations: int) -> None:
        """One sorted set per tenant, scored by expiry, bounded per tenant: one tenant's thumbs-downs never push
        out another's escalations. One script (``EVAL``, not a registered script: a thumbs-down is rare, and the
        store makes no round trip before its first use), so replicas rating at once never interleave."""
        keys = [self._tenant_key(escalation.tenant), f"{self.escalation_prefix}tenants",
                f"{self.escalation_prefix}version"]
        self.client.eval(_ADD_ESCALATION, len(keys), *keys, repr(self.clock()), escalation.to_json(),
                         repr(escalation.expires_at), max_escalations, escalation.tenant)

    def version(self) -> int:
        return int(self.client.get(f"{self.escalation_prefix}version") or 0)

    def escalations(self) -> list[Escalation]:
        tenants = sorted(t.decode() if isinstance(t, bytes) else t
                         for t in self.client.smembers(f"{self.escalation_prefix}tenants"))
        now = self.clock()
        with self.client.pipeline(transaction=False) as pipe:
            for tenant in tenants:
                pipe.zrangebyscore(self._tenant_key(tenant), now, "+inf")
            found = pipe.execute()
        return [Escalation.from_json(value) for values in found for value in values]
