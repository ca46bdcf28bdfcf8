"""Budget state of the request's tenant, recorded for spend attribution (no budgets configured: unlimited)."""

from __future__ import annotations

from litellm.integrations.custom_logger import CustomLogger

from costroute_plugins.proxy.request import add_spend_log_fields
from costroute_plugins.proxy.runtime import Runtime


class BudgetPlugin(CustomLogger):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime

    async def async_pre_call_hook(self, user_api_key_dict, cache, data: dict, call_type) -> dict:
        state = "unlimited" if self.runtime.config.budget.enabled else "disabled"
        add_spend_log_fields(data, budget_state=state)
        return data
