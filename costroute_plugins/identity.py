"""Who a request is billed to and which tier served it, read from LiteLLM's request metadata.

Tenant identity comes from the authenticated key (its team, its own hash, its end user), never from
client-supplied metadata, so a caller cannot read another tenant's cache entries or spend another's budget by
writing a header. The one exception is opt-in: an operator whose trusted gateway sets the tenant in the request
metadata names that field as a source (``metadata.<field>``) and sets ``trust_client_metadata: true``; the
config check refuses the source without it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

TenantSource = Literal["team", "key", "end_user", "org"]
# ``metadata.<field>``: the field of the request's own metadata (LiteLLM's ``requester_metadata``), trusted only
# when ``trust_client_metadata`` is set.
METADATA_SOURCE = "metadata."

_SOURCE_FIELDS: dict[str, str] = {
    "team": "user_api_key_team_id",
    "key": "user_api_key_hash",
    "end_user": "user_api_key_end_user_id",
    "org": "user_api_key_org_id",
}


def tenant_of(metadata: Mapping[str, Any], sources: Sequence[str]) -> str:
    """The first identity present among ``sources``, prefixed by its kind (``team:ops``), else ``anonymous``."""
    for source in sources:
        if source.startswith(METADATA_SOURCE):
            claimed = metadata.get("requester_metadata")
            value = claimed.get(source.removeprefix(METADATA_SOURCE)) if isinstance(claimed, Mapping) else None
            if value is not None and not isinstance(value, (str, int)):
                value = None  # a tenant is a name, never a structure
        else:
            value = metadata.get(_SOURCE_FIELDS[source])
        if value:
            value = str(value)
            return f"{source}:{value[:16] if source == 'key' else value}"
    return "anonymous"


def tier_of(served_group: str | None, routing_decision: Mapping[str, Any] | None, tiers: Sequence[str]) -> str:
    """The tier that served the request: the group that answered (a fallback may have moved it up a tier),
    else the router's choice, else ``other`` for groups that are not tiers."""
    if served_group in tiers:
        return str(served_group)
    if routing_decision and routing_decision.get("tier"):
        return str(routing_decision["tier"])
    return "other"
