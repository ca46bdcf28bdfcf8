"""A callback the replay adds to its derived config: each request's spend-log payload, one JSON line each.

The payload is LiteLLM's ``standard_logging_object``, what it would write to its SpendLogs table (which needs
its database): response cost, cache hit, model group and costroute's routing and budget fields. The replay
joins it to its requests by LiteLLM's call id (the ``x-litellm-call-id`` response header), so costs are the
proxy's own figures, streaming included.
"""

from __future__ import annotations

import json
import os

from litellm.integrations.custom_logger import CustomLogger

from costroute_plugins.replay.derive import CAPTURE_ENV as ENV


class SpendPayloadCapture(CustomLogger):
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time) -> None:
        path = os.environ.get(ENV)
        if not path:
            return
        payload = kwargs.get("standard_logging_object") or {}
        metadata = payload.get("metadata") or {}
        decision = payload.get("routing_decision") or (
            (kwargs.get("litellm_params") or {}).get("metadata") or {}).get("routing_decision") or {}
        row = {
            "call_id": kwargs.get("litellm_call_id"),
            "id": payload.get("id"),
            "response_cost": payload.get("response_cost"),
            "cache_hit": payload.get("cache_hit"),
            "model_group": payload.get("model_group"),
            "prompt_tokens": payload.get("prompt_tokens"),
            "completion_tokens": payload.get("completion_tokens"),
            # Set when LiteLLM's complexity router got no tier from our classifier (e.g. its timeout) and
            # served its fallback tier instead: the replay reports how often.
            "router_failure": decision.get("classifier_failure_reason") if isinstance(decision, dict) else None,
            "costroute": {k: v for k, v in (metadata.get("spend_logs_metadata") or {}).items()
                          if str(k).startswith("costroute_")},
        }
        # Replay runs only: one short local append per request, whole; appends from threads could interleave rows.
        with open(path, "a", encoding="utf-8") as handle:  # noqa: ASYNC230
            handle.write(json.dumps(row, default=str) + "\n")


capture = SpendPayloadCapture()
