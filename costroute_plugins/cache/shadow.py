"""The semantic cache's shadow mode (``cache.mode: shadow``): what a live cache would have served, counted.

Shadow lets an operator measure a cache before trusting it with answers. Lookups run exactly as in ``on`` (the
same scope and tenant isolation, verifier and similarity floor) and misses are stored exactly as ``on`` stores
them, so the shadow cache fills as a live one would; but a would-be hit is only counted, never served: the
request goes upstream and the client gets what it gets without the cache. A would-be hit is not stored again
either, since a live cache would have served it instead of calling upstream.

Series (bounded labels), per replica (sum them in Prometheus across replicas):
- ``costroute_cache_shadow_lookups_total{outcome}``: ``exact_hit``, ``semantic_hit`` or ``miss``; bypasses are
  counted as in ``on`` (``costroute_cache_bypasses_total``);
- ``costroute_cache_shadow_would_be_saving_usd_total``: what the upstream calls behind would-be hits cost, priced
  as LiteLLM prices the call a real hit saves. It is not a saving: those calls were made and paid for, so no
  report or savings series counts it.

How often a would-be semantic hit would have been wrong needs the quality audits (``docs/quality.md``): the
fresh answer is their reference, so only the judge is paid for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from prometheus_client import REGISTRY, CollectorRegistry, Counter

ShadowOutcome = Literal["exact_hit", "semantic_hit", "miss"]
OUTCOMES: tuple[ShadowOutcome, ...] = get_args(ShadowOutcome)


def shadow_outcome(kind: Literal["exact", "semantic"] | None) -> ShadowOutcome:
    """A lookup's would-be outcome from the kind of hit it found (None: it missed)."""
    return "miss" if kind is None else "exact_hit" if kind == "exact" else "semantic_hit"


@dataclass
class ShadowLookups:
    """Counts would-be outcomes into the series and into this replica's tallies (``GET /costroute/cache``).

    Updated from the proxy's event loop only, so the tallies need no lock."""

    lookups: Counter
    would_be_saving: Counter
    counts: dict[ShadowOutcome, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    would_be_saving_usd: float = 0.0

    @classmethod
    def create(cls, registry: CollectorRegistry = REGISTRY) -> ShadowLookups:
        return cls(
            lookups=Counter("costroute_cache_shadow_lookups", "Shadow-mode cache lookups by what a live cache "
                            "would have done (exact_hit, semantic_hit, miss); every one was served upstream",
                            ["outcome"], registry=registry),
            would_be_saving=Counter("costroute_cache_shadow_would_be_saving_usd", "What the upstream calls behind "
                                    "shadow-mode would-be hits cost: what a live cache would have saved (not a "
                                    "saving: the calls were made)", registry=registry),
        )

    def count(self, outcome: ShadowOutcome) -> None:
        self.counts[outcome] += 1
        self.lookups.labels(outcome).inc()

    def would_have_saved(self, usd: float) -> None:
        if usd > 0:
            self.would_be_saving_usd += usd
            self.would_be_saving.inc(usd)

    def document(self) -> dict[str, Any]:
        """This replica's figures since it started: lookups, would-be hits by kind and the would-be hit rate."""
        lookups = sum(self.counts.values())
        hits = self.counts["exact_hit"] + self.counts["semantic_hit"]
        return {"lookups": lookups, "exact_hits": self.counts["exact_hit"],
                "semantic_hits": self.counts["semantic_hit"],
                "would_be_hit_rate": round(hits / lookups, 4) if lookups else None,
                "would_be_saving_usd": round(self.would_be_saving_usd, 6)}
