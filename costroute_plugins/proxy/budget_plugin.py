"""Budget check before each request: reserve its worst-case cost, then act on the decision.

- under the soft limit: nothing changes;
- between soft limit and cap: the router's quality target relaxes (more traffic to cheaper tiers);
- at the cap: ``downgrade`` pins the request to the cheapest tier, ``throttle`` answers 429 with Retry-After,
  ``block`` answers 403 naming the budget.

The reservation is settled with the real cost when the request finishes (``spend_plugin``). A budget store
that fails lets the request through (fail open), logged and counted.
"""

from __future__ import annotations

from typing import Any

import litellm
from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import ProxyException

from costroute_plugins.budget.decision import BudgetDecision
from costroute_plugins.budget.estimate import estimate_cost_usd
from costroute_plugins.budget.guard import BudgetSubject
from costroute_plugins.proxy.request import add_spend_log_fields, metadata_of, request_tags, state_of
from costroute_plugins.proxy.runtime import Runtime, log
from costroute_plugins.proxy.tier_prices import group_rates

AUTO = "auto"


def subject_of(data: dict[str, Any], tenant: str) -> BudgetSubject:
    metadata = metadata_of(data)
    tags = request_tags(data)
    return BudgetSubject(
        tenant=tenant,
        team=metadata.get("user_api_key_team_id"),
        key=(metadata.get("user_api_key_hash") or "")[:16] or None,
        end_user=metadata.get("user_api_key_end_user_id"),
        feature=tags.get("feature"),
    )


class BudgetPlugin(CustomLogger):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime

    def _estimate(self, data: dict[str, Any]) -> float:
        tiers = self.runtime.config.tiers
        model = str(data.get("model") or "")
        groups = [tiers[-1]] if model == AUTO else [model]
        rates = group_rates(groups, self.runtime.prices)
        try:
            prompt_tokens = litellm.token_counter(model=model, messages=data.get("messages") or [])
        except Exception:  # odd content shapes: four characters a token is close enough for a reservation
            prompt_tokens = len(str(data.get("messages") or "")) // 4
        return estimate_cost_usd(prompt_tokens, data.get("max_tokens") or data.get("max_completion_tokens"),
                                 rates, self.runtime.config.budget.default_max_tokens)

    async def async_pre_call_hook(self, user_api_key_dict, cache, data: dict, call_type) -> dict:
        config = self.runtime.config
        if not (config.budget.enabled and config.budget.budgets):
            add_spend_log_fields(data, budget_state="unlimited")
            return data
        state = state_of(data)
        try:
            decision = await self.runtime.guard.check(
                subject_of(data, state.get("tenant", "anonymous")), self._estimate(data), state.get("request_id")
            )
        except Exception as error:  # never fail the request for a budget check
            log.exception("budget: check failed; request allowed")
            decision = BudgetDecision("allow", "degraded", degraded_reason=f"{type(error).__name__}: {error}")
        self.runtime.budget_metrics.observe(decision)
        if decision.degraded_reason:
            log.warning("budget: store unavailable (%s); deciding from this replica's last known counters",
                        decision.degraded_reason)
            self.runtime.metrics.plugin_degraded.labels("budget", "store").inc()
        add_spend_log_fields(data, budget_state=decision.state_label)
        state["budget"] = {"level": decision.level, "action": decision.action,
                           "quality_relaxation": decision.quality_relaxation}
        if not decision.allowed:
            headers = {"Retry-After": str(decision.retry_after_s)} if decision.retry_after_s else None
            raise ProxyException(message=decision.message or "budget exhausted", type="budget_exceeded",
                                 param=None, code=decision.http_status, headers=headers)
        if decision.reservation is not None:
            self.runtime.open_budgets.hold(state["request_id"], decision)
        if decision.action == "downgrade":
            cheapest = config.tiers[0]
            state["forced_tier"] = cheapest
            if data.get("model") in config.tiers:
                data["model"] = cheapest
        return data
