"""Reading and annotating LiteLLM's per-request ``data`` dict; shared by the plugin adapters."""

from __future__ import annotations

from typing import Any

# Where costroute keeps its per-request state inside LiteLLM's request metadata.
STATE_KEY = "costroute"


def metadata_of(data: dict[str, Any]) -> dict[str, Any]:
    """LiteLLM's request metadata (``litellm_metadata`` on some routes), created when absent."""
    if isinstance(data.get("litellm_metadata"), dict) and not isinstance(data.get("metadata"), dict):
        return data["litellm_metadata"]
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        metadata = data["metadata"] = {}
    return metadata


def state_of(data: dict[str, Any]) -> dict[str, Any]:
    """costroute's own per-request record (tenant, decisions), kept in the request metadata."""
    return metadata_of(data).setdefault(STATE_KEY, {})


def add_spend_log_fields(data: dict[str, Any], **fields: Any) -> None:
    """Fields that reach LiteLLM's spend-log payload (and its DB SpendLogs.metadata when a DB is attached)."""
    metadata = metadata_of(data)
    spend = metadata.get("spend_logs_metadata")
    if not isinstance(spend, dict):
        spend = metadata["spend_logs_metadata"] = {}
    spend.update({f"costroute_{key}": value for key, value in fields.items()})


def served_group(model_id: str | None) -> str | None:
    """The model group of the deployment that actually answered (after any fallback), from LiteLLM's router."""
    if not model_id:
        return None
    from litellm.proxy import proxy_server

    router = proxy_server.llm_router
    deployment = router.get_deployment(model_id=model_id) if router is not None else None
    return deployment.model_name if deployment is not None else None


def request_tags(data: dict[str, Any]) -> dict[str, str]:
    """``name:value`` request tags (LiteLLM ``tags``) as a mapping: ``feature``, ``experiment``, ``variant``.

    Tags label spend for reports; they are the caller's claim, so nothing that guards access is read from them.
    """
    metadata = metadata_of(data)
    tags = data.get("tags") or metadata.get("tags") or []
    if not isinstance(tags, (list, tuple)):  # a client may send anything here: only a list of strings is tags
        return {}
    pairs = (str(tag).split(":", 1) for tag in tags if isinstance(tag, str) and ":" in tag)
    return {name.strip(): value.strip() for name, value in pairs}
