"""Quality audits, wired into LiteLLM: after a sampled answer has gone to the client, fetch the top tier's answer
and have the judge grade both (``costroute_plugins/quality/``).

The success event only decides and starts a background task; the client's response never waits for it. Calls
go through LiteLLM's own router (``llm_router.acompletion``), so each is priced and logged like any call, and
carry an ``AuditTag``: the spend plugin files them as audit spend of the audited tenant (ledger ``decision``
``audit``), the cache neither serves nor stores them. Audits never count against the tenant's budgets.

Per replica: the per-tier and per-tenant estimates live in this process (each replica publishes its own
``costroute_quality_*`` series; sum ``count`` and average in Prometheus across replicas). Shared through Redis
when configured: the daily audit spend cap (budget store) and the quality loop (``quality/loop.py``: every
routed answer is counted, every routed audit is its evidence, and the classifier routes with its shift), whose
``costroute_quality_overall`` estimate covers every replica's traffic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from litellm.integrations.custom_logger import CustomLogger

from costroute_plugins.budget.factory import build_store
from costroute_plugins.identity import tier_of
from costroute_plugins.messages import Message, content_text
from costroute_plugins.proxy.request import (
    AUDIT_KEY,
    AuditTag,
    RequestState,
    routing_decision_of,
    served_group,
    state_in,
)
from costroute_plugins.proxy.runtime import Runtime, log
from costroute_plugins.proxy.tier_prices import group_rates
from costroute_plugins.quality.alerts import StandingWatch
from costroute_plugins.quality.audit import Audit
from costroute_plugins.quality.cache_loop import CacheLoop
from costroute_plugins.quality.estimate import QualityEstimates
from costroute_plugins.quality.loop import QualityLoop
from costroute_plugins.quality.loop_store import InMemoryLoopStore, LoopStore, RedisLoopStore
from costroute_plugins.quality.metrics import QualityMetrics
from costroute_plugins.quality.records import AuditRecords
from costroute_plugins.quality.runner import AuditRunner, Reply
from costroute_plugins.quality.sampler import AuditSampler
from costroute_plugins.quality.spend_cap import AuditSpendGovernor
from costroute_plugins.redis_clients import async_client
from costroute_plugins.spend.webhook import post_json

if TYPE_CHECKING:
    from litellm.types.llms.openai import AllMessageValues

#: Audits in flight per replica at most; beyond it a sampled answer is skipped (counted ``busy``).
MAX_IN_FLIGHT = 8
#: LiteLLM call types of chat completions (``RequestState.route``): the only requests audited.
CHAT_CALLS = ("completion", "acompletion")
#: Never served from or stored in LiteLLM's cache (costroute's backend): an audit needs a fresh answer.
NO_CACHE = {"no-cache": True, "no-store": True}


def _answer_text(response: Any) -> str:
    """The first choice's text of a chat completion, as an object or a dict; empty when there is none."""
    choices = response.get("choices") if isinstance(response, dict) else getattr(response, "choices", None)
    if not choices:
        return ""
    choice = choices[0]
    message = choice.get("message") if isinstance(choice, dict) else getattr(choice, "message", None)
    content = message.get("content") if isinstance(message, dict) else getattr(message, "content", None)
    return content_text(content)


class QualityPlugin(CustomLogger):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime
        config = runtime.config.quality
        self.sampler = AuditSampler(config, runtime.config.tiers)
        self.estimates = QualityEstimates.from_config(config)
        self.metrics = QualityMetrics.create()
        governor = AuditSpendGovernor(config, build_store(runtime.config.redis_url, config.key_prefix))
        records = AuditRecords(config.records_path, runtime.config.cache.admission_policy().secret_in) \
            if config.records_path else None
        self.runner = AuditRunner(config, governor, self.estimates, runtime.savings_today, self.metrics,
                                  self._ask, self._price, records.append if records is not None else None)
        self.loop = QualityLoop(config, self._loop_store(config.key_prefix), self.metrics)
        self.cache_loop = CacheLoop(config, self._loop_store(f"{config.key_prefix}cache-"), self.metrics)
        runtime.quality_loop, runtime.cache_loop = self.loop, self.cache_loop
        self.watch = StandingWatch(config)
        self._tasks: set[asyncio.Task] = set()

    def _loop_store(self, prefix: str) -> LoopStore:
        redis_url = self.runtime.config.redis_url
        return RedisLoopStore(async_client(redis_url), prefix) if redis_url else InMemoryLoopStore()

    async def async_log_success_event(self, kwargs: dict[str, Any], response_obj, start_time, end_time) -> None:
        try:
            self._consider(kwargs, response_obj)
        except Exception as error:  # an audit is never worth a failed request or a lost log line
            log.warning("quality: could not consider an answer for audit (%s: %s)", type(error).__name__, error)
            self.runtime.metrics.plugin_degraded.labels("quality", "sample").inc()

    def _consider(self, kwargs: dict[str, Any], response_obj: Any) -> None:
        state = state_in(kwargs)
        if state is None or not self.runtime.config.quality.enabled:
            return
        messages = kwargs.get("messages")
        if state.route not in CHAT_CALLS or not isinstance(messages, list):
            return  # chat only: the judge's prompt is a conversation
        payload = kwargs.get("standard_logging_object") or {}
        # A tier the client named is its own choice, not a cost of costroute's: only its cache hits are audited.
        routing = state.routing
        routed = routing is not None and routing.mode != "explicit"
        tier = self._served_tier(kwargs, payload)
        served = tier if routed else None
        hit = state.cache.kind if state.cache is not None and state.cache.status == "hit" else None
        holdout = routing is not None and routing.mode == "holdout"
        if hit is None and routing is not None and routing.mode == "enforce" and routing.reason != "budget downgrade":
            self.loop.observe(tier != self.runtime.config.tiers[-1], routing.loop_version)
        decision = self.sampler.decide(state.request_id, served_tier=served, cache_hit=hit, holdout=holdout,
                                       messages=messages)
        self.metrics.decisions.labels(decision.reason).inc()
        answer = _answer_text(kwargs.get("complete_streaming_response") or response_obj)
        if decision.audit and decision.kind is not None and decision.reference_tier is not None:
            version = state.routing.loop_version if state.routing is not None else None
            self._start(Audit(state.request_id, state.tenant, decision.kind, tier, decision.reference_tier,
                              tuple(messages), answer), version)
        self._consider_shadow(state, messages, answer, tier)

    def _consider_shadow(self, state: RequestState, messages: Sequence[Message], fresh_answer: str,
                         tier: str) -> None:
        """A would-be semantic hit of the cache's shadow mode (``cache/shadow.py``), audited as a live hit would
        be but for the wrong-hit estimate only: the judge grades the cached answer against the fresh one the client
        got from ``tier``, so no reference call is paid for. Sampled (``cache_sample_rate``) and capped like every
        audit; it counts for the cache's estimate and the cache loop, never for the tenant's (see
        ``docs/quality.md``). The request's own handling above is that of a miss, as the client saw it."""
        outcome = state.cache
        if outcome is None or outcome.status != "shadow_hit" or outcome.kind != "semantic":
            return  # an exact hit replays the answer to the same prompt: not audited, as in `on`
        decision = self.sampler.decide(state.request_id, served_tier=None, cache_hit="semantic", holdout=False,
                                       messages=messages)
        cached_answer = _answer_text(outcome.shadow_response)
        if decision.kind != "cache" or not cached_answer or not fresh_answer:
            return
        self._start(Audit(state.request_id, state.tenant, "cache", None, tier, tuple(messages), cached_answer,
                          reference_answer=fresh_answer, shadow=True), None)

    def _start(self, audit: Audit, loop_version: int | None) -> None:
        """Run the audit in the background, unless MAX_IN_FLIGHT audits already run (counted ``busy``)."""
        if len(self._tasks) >= MAX_IN_FLIGHT:
            self.metrics.audits.labels(audit.kind, "busy").inc()
            return
        task = asyncio.get_running_loop().create_task(self._run(audit, loop_version))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _served_tier(self, kwargs: dict[str, Any], payload: dict[str, Any]) -> str:
        return tier_of(served_group(payload.get("model_id")), routing_decision_of(kwargs), self.runtime.config.tiers)

    async def _run(self, audit: Audit, loop_version: int | None) -> None:
        try:
            outcome = await self.runner.run(audit)
        except Exception as error:
            log.warning("quality: audit of %s failed (%s: %s)", audit.request_id, type(error).__name__, error)
            self.runtime.metrics.plugin_degraded.labels("quality", "audit").inc()
            return
        if outcome is not None:
            try:
                await self.loop.record(outcome, loop_version)
                await self.cache_loop.record(outcome)
            except Exception as error:
                log.warning("quality loop: could not take audit %s (%s: %s)", audit.request_id,
                            type(error).__name__, error)
                self.runtime.metrics.plugin_degraded.labels("quality", "loop").inc()
            self._alert()
            log.info("quality audit %s (%s, tenant %s, served %s): %s, cost $%.6f", audit.request_id, audit.kind,
                     audit.tenant, "nothing (cache shadow mode)" if audit.shadow else audit.served_tier,
                     outcome.verdict if outcome.verdict else outcome.problem, outcome.cost_usd)

    def _alert(self) -> None:
        """Log, and post to the webhook, each key that fell below the quality floor (once per incident)."""
        config = self.runtime.config.quality
        for alert in self.watch.alerts(self.estimates):
            log.warning("quality below target: %s", alert.to_json()["text"])
            if config.webhook_url is not None:
                task = asyncio.get_running_loop().create_task(
                    post_json(str(config.webhook_url), alert.to_json(), config.webhook_timeout_s, "quality alert"))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _ask(self, audit: Audit, group: str, messages: Sequence[Message], max_tokens: int,
                   temperature: float | None) -> Reply:
        """One call of an audit through LiteLLM's router, tagged so spend and cache treat it as costroute's own."""
        from litellm.proxy import proxy_server

        router = proxy_server.llm_router
        if router is None:
            raise RuntimeError("LiteLLM's router is not set up")
        extra: dict[str, Any] = {} if temperature is None else {"temperature": temperature}
        # The client's own messages, passed on as LiteLLM reads them from a request body.
        chat = cast("list[AllMessageValues]", list(messages))
        response = await router.acompletion(model=group, messages=chat, max_tokens=max_tokens,
                                            metadata={AUDIT_KEY: AuditTag(audit.request_id, audit.tenant)},
                                            cache=NO_CACHE, **extra)
        cost = float((getattr(response, "_hidden_params", None) or {}).get("response_cost") or 0.0)
        return Reply(_answer_text(response) or None, cost)

    def _price(self, group: str, prompt_tokens: int, completion_tokens: int) -> float:
        rates = group_rates([group], self.runtime.prices)
        return prompt_tokens * rates.input_usd_per_token + completion_tokens * rates.output_usd_per_token
