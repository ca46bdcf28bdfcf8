"""LiteLLM side of the semantic cache: reports whether a response came from it (``x-costroute-cache``)."""

from __future__ import annotations

from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from costroute_plugins.proxy.runtime import Runtime


class CachePlugin(CustomLogger):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime

    async def async_post_call_response_headers_hook(
        self, data: dict, user_api_key_dict, response: Any, request_headers=None, litellm_call_info=None
    ) -> dict[str, str]:
        if not self.runtime.config.cache.enabled:
            return {"x-costroute-cache": "bypass"}
        hidden = getattr(response, "_hidden_params", None) or {}
        return {"x-costroute-cache": "hit" if hidden.get("cache_hit") else "miss"}
