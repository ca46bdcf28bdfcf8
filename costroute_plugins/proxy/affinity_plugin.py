"""Deployment filter for vLLM model groups: where prefix-affinity selection plugs into LiteLLM's router."""

from __future__ import annotations

from litellm.integrations.custom_logger import CustomLogger

from costroute_plugins.proxy.runtime import Runtime


class AffinityPlugin(CustomLogger):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime

    async def async_filter_deployments(
        self, model, healthy_deployments, messages, request_kwargs=None, parent_otel_span=None
    ) -> list[dict]:
        # Groups not configured for affinity keep LiteLLM's own choice among all healthy replicas.
        return healthy_deployments
