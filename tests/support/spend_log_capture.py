"""A callback that appends each request's spend-log payload (LiteLLM's ``standard_logging_object``) to the JSON
lines file named by ``SPEND_LOG_CAPTURE``: what LiteLLM would write to its SpendLogs table, which needs its
database (unavailable here)."""

from __future__ import annotations

import json
import os

from litellm.integrations.custom_logger import CustomLogger


class SpendLogCapture(CustomLogger):
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time) -> None:
        payload = kwargs.get("standard_logging_object") or {}
        with open(os.environ["SPEND_LOG_CAPTURE"], "a") as handle:  # noqa: ASYNC230  tests only: one short append
            handle.write(json.dumps(payload, default=str) + "\n")


capture = SpendLogCapture()
