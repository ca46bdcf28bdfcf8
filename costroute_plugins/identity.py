"""Who a request is billed to and which tier served it, read from LiteLLM's request metadata.

Tenant identity comes from the authenticated key (its team, its own hash, its org), never from
client-supplied metadata, so a caller cannot read another tenant's cache entries or spend another's budget by
writing a header or a body field. The end user a client names only subdivides its own key's or team's
tenant. The one exception is opt-in: an operator whose trusted gateway sets the tenant in the request metadata
names that field as a source (``metadata.<field>``) and sets ``trust_client_metadata: true``; the config check
refuses the source without it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

TenantSource = Literal["team", "key", "end_user", "org"]
# ``metadata.<field>``: the field of the request's own metadata, trusted only when ``trust_client_metadata`` is set.
METADATA_SOURCE = "metadata."
ANONYMOUS = "anonymous"
# LiteLLM's names for the identity it authenticated (``user_api_key_*`` in its request metadata).
_LITELLM_FIELDS: dict[str, str] = {
    "team": "user_api_key_team_id",
    "key": "user_api_key_hash",
    "end_user": "user_api_key_end_user_id",
    "org": "user_api_key_org_id",
}


def _name(value: Any) -> str | None:
    """A tenant part is a short name, never a structure or an empty string."""
    if value is None or isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value).strip()
    return text[:128] or None


@dataclass(frozen=True)
class Identity:
    """Who sent a request, as the proxy authenticated it.

    ``team``, ``key`` (the key's hash) and ``org`` come from the authenticated key. ``end_user`` is the
    caller's claim (the body's ``user`` field or a customer-id header), so it only ever narrows a tenant inside
    the key or team that sent it: ``end_user:alice@team:ops``, never a tenant another key can reach.
    ``claimed`` is the client's own metadata, read only for ``metadata.<field>`` sources.
    """

    team: str | None = None
    key: str | None = None
    org: str | None = None
    end_user: str | None = None
    claimed: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_litellm(cls, fields: Mapping[str, Any], claimed: Mapping[str, Any] | None = None) -> Identity:
        """From LiteLLM's ``user_api_key_*`` fields (its sanitized view of the authenticated key)."""
        return cls(**{source: _name(fields.get(name)) for source, name in _LITELLM_FIELDS.items()},
                   claimed=dict(claimed or {}))

    @property
    def owner(self) -> str:
        """The authenticated party: its team, else its key, else ``anonymous`` (a proxy without keys)."""
        if self.team:
            return f"team:{self.team}"
        return f"key:{self.key[:16]}" if self.key else ANONYMOUS


def tenant_of(identity: Identity, sources: Sequence[str]) -> str:
    """The first identity present among ``sources``, prefixed by its kind (``team:ops``), else ``anonymous``."""
    for source in sources:
        if source.startswith(METADATA_SOURCE):
            value = _name(identity.claimed.get(source.removeprefix(METADATA_SOURCE)))
            if value:
                return f"{source}:{value}"
        elif source == "end_user":
            if identity.end_user:
                return f"end_user:{identity.end_user}@{identity.owner}"
        else:
            value = getattr(identity, source)
            if value:
                return f"{source}:{value[:16] if source == 'key' else value}"
    return ANONYMOUS


def tier_of(served_group: str | None, routing_decision: Mapping[str, Any] | None, tiers: Sequence[str]) -> str:
    """The tier that served the request: the group that answered (a fallback may have moved it up a tier),
    else the router's choice, else ``other`` for groups that are not tiers."""
    if served_group in tiers:
        return str(served_group)
    if routing_decision and routing_decision.get("tier"):
        return str(routing_decision["tier"])
    return "other"
