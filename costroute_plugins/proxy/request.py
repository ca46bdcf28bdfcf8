"""costroute's per-request state, and the one way every adapter reads LiteLLM's request metadata.

LiteLLM keeps the identity it authenticated in ``data["metadata"]`` on ``/chat/completions``, ``/completions``
and ``/embeddings``, but in ``data["litellm_metadata"]`` on ``/v1/messages``, ``/v1/responses``, batches and
files, where ``data["metadata"]`` is the client's own dict. Reading the wrong one hands identity, budgets and
cache scope to whatever the client wrote. So:

- the request context plugin builds one ``RequestState`` per request from what the proxy authenticated (the
  ``UserAPIKeyAuth`` LiteLLM passes to the pre-call hook) and a request id costroute generates, never from a
  client-sent field, and files it in the authenticated metadata dict of the request's route;
- every later hook finds that state with ``state_in``, which accepts only a ``RequestState`` instance: a client
  can send JSON, never a Python object, so a state cannot be forged from the request body on any route;
- LiteLLM copies metadata between hooks (the classifier gets a shallow copy, logging deep-copies): the state
  survives copying as the same object, so what one hook records the next one reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlparse

from costroute_plugins.identity import Identity
from costroute_plugins.routing.hints import RouteHints

# Where costroute keeps its per-request state inside LiteLLM's request metadata.
STATE_KEY = "costroute"
# Request tags (``name:value``) costroute reads as spend labels: the caller's claim, never an access decision.
LABEL_TAGS = ("feature", "experiment", "variant")


@dataclass
class RoutingRecord:
    """The tier costroute chose (or the client asked for) and why; ``mode`` is how it was applied."""

    tier: str
    reason: str
    mode: str
    score: float | None = None
    # The quality loop's state version the thresholds came from: its evidence counts only for that version.
    loop_version: int | None = None


@dataclass
class BudgetRecord:
    """The budget check's outcome; ``reservation`` is settled exactly once when the request finishes."""

    level: str
    label: str
    action: str | None
    quality_relaxation: float
    reservation: Any = None


@dataclass
class CacheOutcome:
    """What the semantic cache did with the request: ``hit``, ``miss`` or ``bypass`` (with the reason), or in
    shadow mode ``shadow_hit``: a hit found and not served (the request went upstream)."""

    status: str
    reason: str | None = None
    similarity: float | None = None
    kind: Literal["exact", "semantic"] | None = None
    stored: bool | None = None
    # shadow_hit: the cached answer a live cache would have served, for the quality audit to grade against the
    # fresh one the client got.
    shadow_response: Mapping[str, Any] | None = None


@dataclass(eq=False)
class RequestState:
    """Everything costroute knows and decides about one request, shared by its adapters in hook order."""

    identity: Identity
    tenant: str
    route: str
    stream: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    hints: RouteHints = field(default_factory=RouteHints)
    # Generated here, never LiteLLM's call id (a client chooses that one with ``x-litellm-call-id``): budget
    # reservations and ledger rows are keyed by it.
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # LiteLLM's call id (the ``x-litellm-call-id`` header): a handle the client may rate its answer by, so the
    # client may choose it; never an identity, a budget key or a ledger key.
    call_id: str = ""
    routing: RoutingRecord | None = None
    budget: BudgetRecord | None = None
    forced_tier: str | None = None
    cache: CacheOutcome | None = None

    def __copy__(self) -> RequestState:
        return self

    def __deepcopy__(self, memo: dict) -> RequestState:
        return self

    def __repr__(self) -> str:  # loggers that serialise metadata see a short, secret-free line
        return f"RequestState(request_id={self.request_id}, tenant={self.tenant}, route={self.route})"

    def take_reservation(self) -> Any:
        """The budget reservation, handed out once: whichever hook reports the end of the request settles it."""
        if self.budget is None or self.budget.reservation is None:
            return None
        reservation, self.budget.reservation = self.budget.reservation, None
        return reservation


#: Where a call costroute makes itself carries its ``AuditTag`` (its spend is filed as
#: ``spend.attribution.AUDIT_DECISION``).
AUDIT_KEY = "costroute_audit"


@dataclass(frozen=True)
class AuditTag:
    """Marks a call costroute makes to audit an answer (the reference answer or a judge call): the spend plugin
    bills it to the audited tenant as audit spend, the cache leaves it alone. An object, not a string, so a client
    cannot forge it through JSON metadata."""

    request_id: str
    tenant: str

    def __deepcopy__(self, memo: dict) -> AuditTag:
        return self


def audit_in(container: Mapping[str, Any] | None) -> AuditTag | None:
    """The audit tag of one of costroute's own calls, from a hook's ``kwargs``; None for a client's request."""
    for candidate in _candidates(container or {}):
        tag = candidate.get(AUDIT_KEY)
        if isinstance(tag, AuditTag):
            return tag
    return None


def _route_of(data: Mapping[str, Any]) -> str:
    request = data.get("proxy_server_request")
    url = request.get("url") if isinstance(request, Mapping) else None
    return urlparse(str(url)).path if url else ""


def authenticated_metadata(data: dict[str, Any]) -> dict[str, Any]:
    """The metadata dict LiteLLM filled with the authenticated identity on this request's route (created when
    absent). The route decides, as in LiteLLM itself: a client-sent ``litellm_metadata`` on a chat request is
    never mistaken for it."""
    from litellm.proxy.litellm_pre_call_utils import metadata_variable_name_for_route

    name = metadata_variable_name_for_route(_route_of(data)) if _route_of(data) else (
        "litellm_metadata" if isinstance(data.get("litellm_metadata"), dict) else "metadata")
    metadata = data.get(name)
    if not isinstance(metadata, dict):
        metadata = data[name] = {}
    return metadata


def client_metadata(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """The client's own ``metadata`` (routing hints, tags): claims, read as such."""
    metadata = data.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def attach(data: dict[str, Any], state: RequestState) -> None:
    """File ``state`` in the authenticated metadata; whatever a client sent under the same key is dropped."""
    for name in ("metadata", "litellm_metadata"):
        if isinstance(data.get(name), dict):
            data[name].pop(STATE_KEY, None)
    authenticated_metadata(data)[STATE_KEY] = state


def _candidates(container: Mapping[str, Any]):
    yield container
    for name in ("metadata", "litellm_metadata"):
        if isinstance(container.get(name), Mapping):
            yield container[name]
    params = container.get("litellm_params")
    if isinstance(params, Mapping):
        yield from _candidates(params)


def _holder(container: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    for candidate in _candidates(container or {}):
        if isinstance(candidate.get(STATE_KEY), RequestState):
            return candidate
    return None


def state_in(container: Mapping[str, Any] | None) -> RequestState | None:
    """The request's state, from a request ``data`` dict, a hook's ``kwargs`` or a metadata dict; None when the
    context plugin did not see the request (then nothing that needs an identity may act on it)."""
    holder = _holder(container)
    return holder[STATE_KEY] if holder is not None else None


def model_group(container: Mapping[str, Any] | None) -> str | None:
    """The model group LiteLLM routed the request to, from the authenticated metadata (never the client's)."""
    holder = _holder(container)
    group = holder.get("model_group") if holder is not None else None
    return str(group) if group else None


def add_spend_log_fields(data: dict[str, Any], **fields: Any) -> None:
    """Fields that reach LiteLLM's spend-log payload (and its DB SpendLogs.metadata when a DB is attached)."""
    metadata = authenticated_metadata(data)
    spend = metadata.get("spend_logs_metadata")
    if not isinstance(spend, dict):
        spend = metadata["spend_logs_metadata"] = {}
    spend.update({f"costroute_{key}": value for key, value in fields.items()})


def routing_decision_of(kwargs: Mapping[str, Any]) -> Mapping[str, Any]:
    """LiteLLM's complexity-router decision for a finished call: from its spend-log payload, else the call's
    metadata; empty when the call was not routed by ``auto``."""
    payload = kwargs.get("standard_logging_object") or {}
    return (payload.get("metadata") or {}).get("routing_decision") or \
        ((kwargs.get("litellm_params") or {}).get("metadata") or {}).get("routing_decision") or {}


def served_group(model_id: str | None) -> str | None:
    """The model group of the deployment that actually answered (after any fallback), from LiteLLM's router."""
    if not model_id:
        return None
    from litellm.proxy import proxy_server

    router = proxy_server.llm_router
    deployment = router.get_deployment(model_id=model_id) if router is not None else None
    return deployment.model_name if deployment is not None else None


def request_tags(data: Mapping[str, Any]) -> dict[str, str]:
    """``name:value`` request tags (LiteLLM ``tags``) as a mapping: ``feature``, ``experiment``, ``variant``.

    Tags label spend for reports; they are the caller's claim, so nothing that guards access is read from them.
    """
    tags = data.get("tags") or client_metadata(data).get("tags") or []
    if not isinstance(tags, (list, tuple)):  # a client may send anything here: only a list of strings is tags
        return {}
    pairs = (str(tag).split(":", 1) for tag in tags if isinstance(tag, str) and ":" in tag)
    return {name.strip(): value.strip()[:64] for name, value in pairs if name.strip() in LABEL_TAGS}


def is_auto_router(group: Any) -> bool:
    """Whether ``group`` is a LiteLLM auto-router entry (``model: auto_router/...``), whatever its name."""
    from litellm.proxy import proxy_server

    router = proxy_server.llm_router
    deployments = router.get_model_list(model_name=str(group)) if router is not None and group else None
    if not deployments:
        return False
    return all(str((d.get("litellm_params") or {}).get("model", "")).startswith("auto_router/") for d in deployments)
