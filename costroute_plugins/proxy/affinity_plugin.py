"""LiteLLM adapter for prefix-affinity routing: narrows a vLLM model group's healthy deployments to the one
replica the policy picks (``async_filter_deployments``), and keeps the replica book current from request
outcomes. All decisions live in ``costroute_plugins.vllm_affinity``; this file only translates.

It fails open: any error here returns LiteLLM's own list untouched, counted as degraded, so affinity can cost
cache hits but never a request. Retries skip the replicas that already failed the same call.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

from litellm.integrations.custom_logger import CustomLogger
from prometheus_client import REGISTRY, CollectorRegistry

from costroute_plugins.proxy.request import state_in
from costroute_plugins.proxy.runtime import Runtime
from costroute_plugins.vllm_affinity.blocks import load_tokenizer
from costroute_plugins.vllm_affinity.group import AffinityGroup, Target
from costroute_plugins.vllm_affinity.metrics import AffinityMetrics
from costroute_plugins.vllm_affinity.policy import make_policy
from costroute_plugins.vllm_affinity.poller import MetricsPoller
from costroute_plugins.vllm_affinity.replicas import ReplicaBook

log = logging.getLogger("costroute")

# A request failing with one of these marks its replica down until a /metrics poll succeeds again.
CONNECTION_ERRORS = ("APIConnectionError", "ConnectError", "ConnectionError", "ServiceUnavailableError", "Timeout",
                     "APITimeoutError")


def _target(deployment: Mapping[str, Any]) -> Target | None:
    params = deployment.get("litellm_params") or {}
    api_base = params.get("api_base")
    deployment_id = (deployment.get("model_info") or {}).get("id")
    if not isinstance(api_base, str) or not api_base.startswith("http") or not deployment_id:
        return None
    return Target(str(deployment_id), api_base)


def _metadata(kwargs: Mapping[str, Any] | None) -> Mapping[str, Any]:
    kwargs = kwargs or {}
    return kwargs.get("litellm_metadata") or kwargs.get("metadata") or {}


def _request_key(kwargs: Mapping[str, Any] | None) -> str | None:
    """What a request in flight is counted under: costroute's generated request id, not LiteLLM's call id, which
    a client may set (40 requests sharing one would count as one in flight)."""
    state = state_in(kwargs)
    return state.request_id if state is not None else (kwargs or {}).get("litellm_call_id")


def _tried_deployments(request_kwargs: Mapping[str, Any] | None) -> list[str]:
    """Deployment ids that already failed this call: LiteLLM records each failed attempt in previous_models."""
    tried = []
    for attempt in _metadata(request_kwargs).get("previous_models") or []:
        if isinstance(attempt, Mapping) and attempt.get("deployment_id"):
            tried.append(str(attempt["deployment_id"]))
    return tried


class AffinityPlugin(CustomLogger):
    def __init__(self, runtime: Runtime, registry: CollectorRegistry = REGISTRY) -> None:
        super().__init__()
        self.runtime = runtime
        settings = runtime.config.vllm_affinity
        self.groups: dict[str, AffinityGroup] = {}
        self.pollers: list[MetricsPoller] = []
        if not settings.model_groups:
            return
        self.metrics = AffinityMetrics.create(registry)
        tokenizer = load_tokenizer(settings.tokenizer, settings.chars_per_token)
        for name in settings.model_groups:
            book = ReplicaBook(staleness_s=settings.staleness_s)
            policy = make_policy(settings.policy, load_factor=settings.load_factor, key_blocks=settings.key_blocks,
                                 load_slack=settings.load_slack)
            self.groups[name] = AffinityGroup(name, policy, tokenizer, settings.block_size, book,
                                              settings.metrics_path, settings.cache_full_at)
            self.pollers.append(MetricsPoller(book, settings.poll_interval_s, settings.metrics_timeout_s,
                                              on_reset=policy.forget,
                                              after_round=functools.partial(self._publish, self.groups[name])))
        log.info("vllm_affinity: %s routing for %s (blocks of %d tokens, %s, load bound %.2fx)", settings.policy,
                 ", ".join(self.groups), settings.block_size, tokenizer.name, settings.load_factor)

    async def async_filter_deployments(
        self, model, healthy_deployments, messages, request_kwargs=None, parent_otel_span=None
    ) -> list[dict]:
        group = self.groups.get(model)
        if group is None or len(healthy_deployments) <= 1:
            # Groups not configured for affinity keep LiteLLM's own choice among all healthy replicas.
            return healthy_deployments
        try:
            for poller in self.pollers:
                poller.ensure_running()
            targets = {}
            for deployment in healthy_deployments:
                target = _target(deployment)
                if target is None:
                    raise ValueError(f"deployment {deployment.get('model_info', {}).get('id')} of {model} has no "
                                     "http api_base")
                targets[target] = deployment
            selection = group.select(list(targets), messages, _request_key(request_kwargs),
                                     _tried_deployments(request_kwargs))
        except Exception as error:
            log.warning("vllm_affinity: selection failed for %s (%s); LiteLLM picks among all replicas",
                        model, error)
            self.runtime.metrics.plugin_degraded.labels("affinity", type(error).__name__).inc()
            self.metrics.decisions.labels(model, "bypass").inc()
            return healthy_deployments
        log.debug("vllm_affinity: %s request %s -> %s (%s, %d blocks matched, skipped %s, in flight %s)", model,
                  _request_key(request_kwargs), selection.target.api_base, selection.choice.reason,
                  selection.choice.matched_blocks, list(selection.skipped),
                  {key: replica.inflight for key, replica in group.book.replicas.items()})
        self.metrics.decisions.labels(model, selection.choice.reason).inc()
        self.metrics.matched_blocks.labels(model).inc(selection.choice.matched_blocks)
        return [targets[selection.target]]

    def _publish(self, group: AffinityGroup) -> None:
        """After each poll round: which replicas take new requests (down and stale ones do not)."""
        for key in group.usable_keys():
            self.metrics.replica_usable.labels(group.name, key).set(1)
        for key in set(group.book.replicas) - set(group.usable_keys()):
            self.metrics.replica_usable.labels(group.name, key).set(0)

    def _settle(self, kwargs: Mapping[str, Any], failed: bool) -> None:
        call_id = _request_key(kwargs)
        params = kwargs.get("litellm_params") or {}
        name = _metadata(params).get("model_group") or _metadata(kwargs).get("model_group")
        group = self.groups.get(name) if isinstance(name, str) else None
        if group is None:
            return
        if call_id:
            group.release(call_id)
        exception = kwargs.get("exception")
        if failed and exception is not None and type(exception).__name__ in CONNECTION_ERRORS:
            api_base = params.get("api_base") or kwargs.get("api_base")
            if isinstance(api_base, str):
                group.replica_down(api_base, f"{type(exception).__name__}: {exception}"[:300])

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        try:
            self._settle(kwargs, failed=False)
        except Exception:
            log.exception("vllm_affinity: could not settle a finished request")

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        try:
            self._settle(kwargs, failed=True)
        except Exception:
            log.exception("vllm_affinity: could not settle a failed request")
