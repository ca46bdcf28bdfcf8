"""Who pays for a finished request, what it cost and what cache and router saved: pure functions, no LiteLLM.

The proxy adapter (``proxy/spend_plugin.py``) reads LiteLLM's logging payload into a ``FinishedCall`` and the
request's costroute state into a ``Payer``; ``attribute`` turns them into the numbers and the ledger row. What
has side effects (settling the budget reservation, metrics, the ledger, anomaly alerts) stays with the adapter,
which holds the running services: everything decided here can be checked without a proxy.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from costroute_plugins.identity import Identity, tier_of
from costroute_plugins.spend.pricing import PriceBook
from costroute_plugins.spend.record import AttributionRecord, money, token_count

#: The tenant of a finished request costroute has no state for (the context plugin did not see it).
UNATTRIBUTED = "unattributed"
#: The ledger ``decision`` of costroute's own calls (quality audits): reports keep their spend apart.
AUDIT_DECISION = "audit"


@dataclass(frozen=True)
class FinishedCall:
    """One finished call as LiteLLM reported it (its ``standard_logging_object``), every value as reported:
    token counts may be negative, fractional or text, costs may be missing."""

    model: str
    deployment: str | None = None
    # The model group of the deployment that answered (after any fallback), None when it is not known.
    group: str | None = None
    prompt_tokens: Any = None
    completion_tokens: Any = None
    cached_tokens: Any = None
    cache_hit: bool = False
    response_cost: float | None = None
    # What LiteLLM priced the call a cache hit answered at; read only for a hit.
    saved_cache_cost: float | None = None
    # LiteLLM's premium cost minus its cost of the served tier, for a call its ``auto`` router routed.
    autorouter_savings: float | None = None
    # LiteLLM's complexity-router decision (``tier``, ``cause``); empty when the call was not routed by ``auto``.
    routing_decision: Mapping[str, Any] = field(default_factory=dict)

    @property
    def reported_tokens(self) -> tuple[Any, Any, Any]:
        return self.prompt_tokens, self.completion_tokens, self.cached_tokens


@dataclass(frozen=True)
class Payer:
    """Who the proxy authenticated for the request, as costroute's request state recorded it."""

    request_id: str
    tenant: str
    identity: Identity = field(default_factory=Identity)
    tags: Mapping[str, str] = field(default_factory=dict)
    budget_state: str | None = None


@dataclass(frozen=True)
class Attribution:
    """The outcome for one finished request: the ledger row, and the same money as floats for the metrics."""

    record: AttributionRecord
    cost_usd: float
    cache_saving_usd: float
    routing_saving_usd: float
    # costroute's own call (a quality audit): its savings do not count towards the day's savings.
    audit: bool

    @property
    def saving_usd(self) -> float:
        return self.cache_saving_usd + self.routing_saving_usd


def unattributed() -> Payer:
    """The payer of a request the context plugin did not see: no identity the proxy vouched for, billed as such,
    and keyed by an id generated here (never LiteLLM's call id, which the client may choose)."""
    return Payer(request_id=uuid.uuid4().hex, tenant=UNATTRIBUTED)


def call_cost(call: FinishedCall, prices: PriceBook) -> float:
    """What the call really cost: nothing on a cache hit, else ``PriceBook.cost`` on the token counts as
    corrected by ``token_count`` (an upstream's nonsense counts are priced as what the ledger can store)."""
    if call.cache_hit:
        return 0.0
    prompt_tokens, completion_tokens, cached_tokens = map(token_count, call.reported_tokens)
    return prices.cost((call.model, call.group), prompt_tokens, completion_tokens, cached_tokens,
                       float(call.response_cost or 0.0))


def attribute(call: FinishedCall, payer: Payer | None, audited_tenant: str | None, prices: PriceBook,
              tiers: Sequence[str]) -> Attribution:
    """The cost, the savings and the ledger row of a finished request.

    ``payer`` None: the request is ``unattributed``. ``audited_tenant`` set: the call is costroute's own audit of
    that tenant's answer, billed to it in its own category and saving nothing. Token counts are priced as
    corrected and handed to the record as reported, which corrects them again and flags the row.
    """
    payer = payer if payer is not None else unattributed()
    cost = call_cost(call, prices)
    cache_saving = float(call.saved_cache_cost or 0.0) if call.cache_hit else 0.0
    routing_saving = prices.routing_saving(call.autorouter_savings, float(call.response_cost or 0.0), cost)
    tenant = payer.tenant
    decision = "cache_hit" if call.cache_hit else call.routing_decision.get("cause") or "requested"
    if audited_tenant is not None:
        tenant, decision, cache_saving, routing_saving = audited_tenant, AUDIT_DECISION, 0.0, 0.0
    record = AttributionRecord(
        request_id=payer.request_id,
        tenant=tenant,
        cost_usd=money(cost),
        team=payer.identity.team,
        key=payer.identity.key,
        end_user=payer.identity.end_user,
        feature=payer.tags.get("feature"),
        experiment=payer.tags.get("experiment"),
        variant=payer.tags.get("variant"),
        tier=tier_of(call.group, call.routing_decision, tiers),
        model=call.model,
        deployment=call.deployment,
        prompt_tokens=call.prompt_tokens,  # as reported: the record corrects them and flags the row
        completion_tokens=call.completion_tokens,
        cached_tokens=call.cached_tokens,
        cache_hit=call.cache_hit,
        cache_saving_usd=money(cache_saving),
        routing_saving_usd=money(routing_saving),
        decision=decision,
        budget_state=payer.budget_state,
    )
    return Attribution(record, cost, cache_saving, routing_saving, audit=audited_tenant is not None)
