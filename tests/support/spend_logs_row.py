"""A callback that records the ``LiteLLM_SpendLogs`` row LiteLLM's proxy would write for each request, as JSON
lines in the file named by ``SPEND_LOGS_ROW_CAPTURE``.

With a database, LiteLLM's proxy appends its DB logger after every configured callback and that logger hands
each finished request to ``DBSpendUpdateWriter.update_database``, which builds the row
(``get_logging_payload``) and queues it for insertion; the queue's flush keeps only the metadata fields
``general_settings.spend_logs_metadata_fields`` allows. The database itself cannot run here (Prisma's engines
cannot be downloaded), so this callback, listed last like that logger, runs the same writer with only the final
queueing replaced: what lands in the file is what would have been inserted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy.db.db_spend_update_writer import DBSpendUpdateWriter
from litellm.proxy.spend_tracking.spend_tracking_utils import (
    configured_spend_logs_metadata_fields,
    spend_log_row_with_retained_metadata,
)


class _RowRecorder(DBSpendUpdateWriter):
    """LiteLLM's spend writer whose insert step appends the row to a file instead of the database queue."""

    async def _insert_spend_log_to_db(self, payload, prisma_client=None, spend_logs_url=None, llm_router=None):
        row = spend_log_row_with_retained_metadata(payload, configured_spend_logs_metadata_fields())
        with open(os.environ["SPEND_LOGS_ROW_CAPTURE"], "a") as handle:  # noqa: ASYNC230  tests only: one append
            handle.write(json.dumps(dict(row), default=str) + "\n")
        return prisma_client


class SpendLogsRowCapture(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self.writer = _RowRecorder()

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time) -> None:
        # The identity arguments LiteLLM's DB logger passes: the authenticated key's fields in the call metadata.
        metadata: Mapping[str, Any] = (kwargs.get("litellm_params") or {}).get("metadata") or {}
        payload = kwargs.get("standard_logging_object") or {}
        await self.writer.update_database(
            token=metadata.get("user_api_key"), user_id=metadata.get("user_api_key_user_id"),
            end_user_id=metadata.get("user_api_key_end_user_id"), team_id=metadata.get("user_api_key_team_id"),
            org_id=metadata.get("user_api_key_org_id"), kwargs=kwargs, completion_response=response_obj,
            start_time=start_time, end_time=end_time, response_cost=payload.get("response_cost"),
        )


capture = SpendLogsRowCapture()
