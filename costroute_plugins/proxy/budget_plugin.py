"""Budget check before each request: reserve its worst-case cost, then act on the decision.

- under the soft limit: nothing changes;
- between soft limit and cap: the router's quality target relaxes (more traffic to cheaper tiers);
- at the cap: ``downgrade`` pins the request to the cheapest tier, ``throttle`` answers 429 with Retry-After,
  ``block`` answers 403 naming the budget.

The reservation is settled with the real cost when the request finishes (``spend_plugin``), or released here
when a client hangs up on a stream before its first chunk (LiteLLM then reports neither success nor failure). A
budget store that fails lets the request through (fail open), logged and counted; while it is down each replica
decides from the counters it last saw, so a budget can overshoot its cap by what each replica last saw left plus
one request per replica (``budget.guard.OutageCounters``).

A budget whose settled spend crosses its soft limit or reaches its cap is announced once (``budget.alerts``):
logged, and posted to ``budget.webhook_url`` from a background task, so a slow or failing webhook never delays
or fails the request; a failed post is logged and counted (``costroute_plugin_degraded_total{plugin="budget",
reason="webhook"}``) and not retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

import anyio
import litellm
from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import ProxyException

from costroute_plugins.budget.alerts import BudgetAlert, crossings
from costroute_plugins.budget.decision import BudgetDecision
from costroute_plugins.budget.estimate import answer_count, estimate_cost_usd, positive_int
from costroute_plugins.budget.guard import BudgetSubject
from costroute_plugins.proxy.request import BudgetRecord, RequestState, add_spend_log_fields, is_auto_router, state_in
from costroute_plugins.proxy.runtime import Runtime, log
from costroute_plugins.proxy.tier_prices import group_rates
from costroute_plugins.spend.webhook import post_json
from costroute_plugins.stages import DecisionPath

# Where each API puts the most tokens one answer may have: chat (both spellings), Responses, Anthropic messages.
MAX_TOKENS_FIELDS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


def subject_of(state: RequestState) -> BudgetSubject:
    """Who pays, from the request's authenticated identity; feature tags and end users are the caller's claims
    and only count within the owner (team, else key) that sent them."""
    identity = state.identity
    return BudgetSubject(
        tenant=state.tenant,
        team=identity.team,
        key=(identity.key or "")[:16] or None,
        end_user=identity.end_user,
        feature=state.tags.get("feature"),
        owner=identity.owner,
    )


def requested_max_tokens(data: Mapping[str, Any]) -> int | None:
    """The largest token limit the request sets in any spelling: an upstream that reads another field than
    costroute would otherwise generate more than was reserved. None when none is a positive integer."""
    limits = [limit for limit in (positive_int(data.get(name)) for name in MAX_TOKENS_FIELDS) if limit]
    return max(limits, default=None)


def budget_path(decision: BudgetDecision) -> DecisionPath:
    """The decision path of a budget check: what the request got, the store's failure first (it was allowed
    whatever the counters said)."""
    if decision.degraded_reason:
        return "budget_fail_open"
    if decision.action == "allow":
        return "budget_soft" if decision.level == "soft" else "budget_under"
    paths: dict[str, DecisionPath] = {"downgrade": "budget_downgrade", "throttle": "budget_throttle",
                                      "block": "budget_block"}
    return paths[decision.action]


class BudgetPlugin(CustomLogger):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime
        self._tasks: set[asyncio.Task] = set()  # alert posts in flight: the loop keeps only weak references

    def _estimate(self, data: dict[str, Any]) -> float:
        tiers = self.runtime.config.tiers
        model = str(data.get("model") or "")
        # Before routing an auto-router's tier is unknown: reserve at the dearest tier's rates.
        groups = [tiers[-1]] if is_auto_router(model) else [model]
        rates = group_rates(groups, self.runtime.prices)
        try:
            prompt_tokens = litellm.token_counter(model=model, messages=data.get("messages") or [])
        except Exception:  # odd content shapes: four characters a token is close enough for a reservation
            prompt_tokens = len(str(data.get("messages") or "")) // 4
        budget = self.runtime.config.budget
        return estimate_cost_usd(prompt_tokens, requested_max_tokens(data), rates, budget.default_max_tokens,
                                 answers=answer_count(data.get("n"), data.get("best_of")),
                                 max_reserved_tokens=budget.max_reserved_tokens)

    async def async_pre_call_hook(self, user_api_key_dict, cache, data: dict, call_type) -> dict:
        config = self.runtime.config
        if not (config.budget.enabled and config.budget.budgets):
            add_spend_log_fields(data, budget_state="unlimited")
            return data
        state = state_in(data)
        stages = self.runtime.metrics.stages
        try:
            if state is None:
                raise LookupError("no request state (the context plugin did not see this request)")
            with stages.timed("budget_reservation"):
                decision = await self.runtime.guard.check(subject_of(state), self._estimate(data), state.request_id)
        except Exception as error:  # never fail the request for a budget check
            log.exception("budget: check failed; request allowed")
            decision = BudgetDecision("allow", "degraded", degraded_reason=f"{type(error).__name__}: {error}")
        self.runtime.budget_metrics.observe(decision)
        stages.took(budget_path(decision))
        self._announce(decision)
        if decision.degraded_reason:
            log.warning("budget: store unavailable (%s); deciding from this replica's last known counters",
                        decision.degraded_reason)
            self.runtime.metrics.plugin_degraded.labels("budget", "store").inc()
        add_spend_log_fields(data, budget_state=decision.state_label)
        if state is None:
            return data
        state.budget = BudgetRecord(level=decision.level, label=decision.state_label, action=decision.action,
                                    quality_relaxation=decision.quality_relaxation, reservation=decision)
        if not decision.allowed:
            headers = {"Retry-After": str(decision.retry_after_s)} if decision.retry_after_s else None
            raise ProxyException(message=decision.message or "budget exhausted", type="budget_exceeded",
                                 param=None, code=decision.http_status, headers=headers)
        if decision.action == "downgrade":
            cheapest = config.tiers[0]
            state.forced_tier = cheapest
            if data.get("model") in config.tiers:
                data["model"] = cheapest
        return data

    def _announce(self, decision: BudgetDecision) -> None:
        """Hand the budgets this decision shows past a threshold, and not yet announced by this replica, to a
        background task: the request only pays for a few dictionary look-ups."""
        try:
            fresh = self.runtime.budget_alerts.unseen(crossings(decision, self.runtime.config.budget))
            if fresh:
                task = asyncio.get_running_loop().create_task(self._post(fresh))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except Exception:  # an alert must never fail the request
            log.exception("budget: could not announce a budget alert")
            self.runtime.metrics.plugin_degraded.labels("budget", "alert").inc()

    async def _post(self, alerts: list[BudgetAlert]) -> None:
        """Log and post each alert this replica wins the claim for (every replica's first sight of a crossing
        reaches here). When the claim cannot be made (Redis down) the alert goes out anyway: a duplicate alert
        beats a lost one."""
        config = self.runtime.config.budget
        for alert in alerts:
            try:
                first = await self.runtime.budget_alerts.claim(alert)
            except Exception as error:
                log.warning("budget: could not check whether another replica announced %s (%s: %s); announcing it",
                            alert.key, type(error).__name__, error)
                self.runtime.metrics.plugin_degraded.labels("budget", "alert_claim").inc()
                first = True
            if not first:
                continue
            log.warning("budget alert: %s", alert.text)
            if config.webhook_url is not None and not await post_json(
                    str(config.webhook_url), alert.to_json(), config.webhook_timeout_s, "budget alert"):
                self.runtime.metrics.plugin_degraded.labels("budget", "webhook").inc()

    # LiteLLM wraps streams only for callbacks whose own class defines this hook (``type(cb).__dict__``): keep it
    # defined here, on the leaf class.
    async def async_post_call_streaming_iterator_hook(self, user_api_key_dict, response: AsyncIterator[Any],
                                                      request_data: dict) -> AsyncGenerator[Any, None]:
        """Streams pass through unchanged. A client that hangs up before the first chunk gets neither a success
        event (LiteLLM bills a cancelled stream only from the chunks it received) nor a failure event, so its
        reservation would hold the budget for ``reservation_ttl_s``: LiteLLM cancels or closes this iterator
        then, and the reservation is released here. Once a chunk went out, the success event LiteLLM sends for
        the partial answer settles it."""
        answered = False
        try:
            async for chunk in response:
                answered = True
                yield chunk
        except (asyncio.CancelledError, GeneratorExit):
            if not answered:
                with anyio.CancelScope(shield=True):  # the request's task is being cancelled: finish the release
                    await self._release(request_data)
            raise

    async def _release(self, request_data: dict) -> None:
        state = state_in(request_data)
        decision = state.take_reservation() if state is not None else None
        if decision is None:
            return
        problem = await self.runtime.guard.settle(decision, 0.0)
        if problem:
            log.warning("budget: could not release a cancelled stream's reservation (%s); it lapses on its own",
                        problem)
            self.runtime.metrics.plugin_degraded.labels("budget", "settle").inc()
