"""The exact part of a cache key: everything about a request except the last user message's wording.

Only the last user message is compared by meaning. Who asks (tenant), which model alias, which API, the system
prompt, every earlier turn of the conversation and the parameters that change the answer must match exactly, so
a cached answer is never replayed into another tenant, persona, conversation, output format or length.

``params`` is the whole keyword set LiteLLM hands its cache backend: the request's parameters and LiteLLM's own
(metadata, credentials, logging objects). Each name is either known to change the answer (it joins the key),
known not to (it is left out), or unknown, and an unknown one makes the request uncacheable: a parameter nobody
has classified may change the answer, and serving a wrong answer is worse than a miss.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from costroute_plugins.messages import TEXT_PARTS

# Request parameters that change what a correct answer looks like: their values join the key.
ANSWER_PARAMS: frozenset[str] = frozenset({
    # OpenAI chat completions
    "tools", "tool_choice", "functions", "function_call", "response_format", "n", "stop", "seed", "logit_bias",
    "top_p", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs", "reasoning_effort", "modalities",
    "audio", "parallel_tool_calls", "max_tokens", "max_completion_tokens", "prediction", "web_search_options",
    "verbosity",
    # Anthropic messages
    "stop_sequences", "thinking", "top_k", "mcp_servers", "context_management", "output_config", "output_format",
    "container",
    # a top-level system prompt (Anthropic's ``system``, Responses' ``instructions``): it leads the message list
    # where the call type says the API has one, and joins the key as a parameter anywhere else
    "system", "instructions",
    # OpenAI Responses
    "max_output_tokens", "reasoning", "text", "include", "previous_response_id", "conversation", "truncation",
    "max_tool_calls", "prompt", "background",
    # vLLM and other open-weights servers: sampling, decoding constraints, chat templates
    "min_p", "repetition_penalty", "length_penalty", "min_tokens", "best_of", "use_beam_search", "ignore_eos",
    "stop_token_ids", "bad_words", "allowed_token_ids", "skip_special_tokens", "spaces_between_special_tokens",
    "include_stop_str_in_output", "truncate_prompt_tokens", "prompt_logprobs", "return_tokens_as_token_ids",
    "guided_json", "guided_regex", "guided_choice", "guided_grammar", "guided_decoding_backend",
    "guided_whitespace_pattern", "structured_outputs", "chat_template", "chat_template_kwargs",
    "add_generation_prompt", "continue_final_message", "documents", "mm_processor_kwargs", "logits_processors",
    "vllm_xargs",
    # whatever else reaches the provider: extra body fields and headers (an "anthropic-beta" header, say)
    "extra_body", "extra_query", "extra_headers", "headers", "provider_specific_header",
    # LiteLLM features that write the prompt or the answer
    "mock_response", "mock_tool_calls", "prompt_id", "prompt_variables", "prompt_version", "prompt_label",
    "litellm_system_prompt", "assistant_continue_message", "user_continue_message", "bos_token", "eos_token",
    "custom_prompt_dict", "supports_system_message", "ensure_alternating_roles", "merge_reasoning_content_in_choices",
    "guardrails",
})

# Parameters LiteLLM, its router and its proxy put around a request (identity, transport, credentials, retries,
# routing, logging, cache controls), and request fields that only say how to deliver or bill the answer: none of
# them changes what the answer says. Deployment prices (any name containing "cost_per") and LiteLLM's private
# keywords (prefix "_litellm_") are left out too.
IGNORED_PARAMS: frozenset[str] = frozenset({
    # the request's own bookkeeping
    "model", "user", "metadata", "litellm_metadata", "tags", "stream", "stream_options", "store", "service_tier",
    "safety_identifier", "prompt_cache_key", "prompt_cache_retention", "cache_control", "enable_prompt_caching",
    # cache controls
    "cache", "caching", "cache_key", "preset_cache_key", "ttl", "no-log",
    # LiteLLM and proxy internals
    "litellm_call_id", "litellm_logging_obj", "litellm_trace_id", "litellm_session_id", "session_id", "trace_id",
    "parent_otel_span", "litellm_parent_otel_span", "proxy_server_request", "secret_fields", "model_info",
    "_context_compaction_state", "litellm_request_debug", "litellm_disabled_callbacks",
    "litellm_trusted_callback_vars", "litellm_credential_name", "original_function", "original_generic_function",
    "attempted_targets", "success_callback", "failure_callback", "callbacks", "logger_fn", "verbose",
    "turn_off_message_logging", "log_client_error_tracebacks",
    # transport and credentials
    "api_key", "api_base", "base_url", "api_version", "organization", "custom_llm_provider", "client", "timeout",
    "stream_timeout", "request_timeout", "client_side_timeout", "force_timeout", "keepalive_seconds",
    "allow_client_keepalive_override", "max_retries", "num_retries", "retry_policy", "retry_strategy", "ssl_verify",
    "use_litellm_proxy", "use_in_pass_through", "use_client", "use_xai_oauth", "drop_params", "additional_drop_params",
    "region_name", "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_region_name",
    "aws_profile_name", "aws_role_name", "aws_session_name", "aws_bedrock_runtime_endpoint", "vertex_project",
    "vertex_location", "vertex_credentials", "azure_ad_token", "azure_ad_token_provider", "azure_username",
    "azure_password", "azure_scope", "client_id", "client_secret", "tenant_id",
    # routing and pricing
    "rpm", "tpm", "order", "weight", "max_parallel_requests", "fallbacks", "context_window_fallback_dict",
    "max_fallbacks", "fallback_depth", "disable_fallbacks", "base_model", "tiered_pricing", "cooldown_time",
})
_LITELLM_PRIVATE_PREFIX = "_litellm_"
_PRICE_MARKER = "cost_per"

# LiteLLM call types (``litellm_logging_obj.call_type``) whose requests the cache answers, by request shape. The
# shape joins the key: a chat completion body must never be replayed to a Responses or a Messages caller.
CALL_TYPES: dict[str, str] = {
    "completion": "chat", "acompletion": "chat",
    "responses": "responses", "aresponses": "responses",
    "anthropic_messages": "messages", "aanthropic_messages": "messages",
}
# Parameters that carry the conversation itself, per shape: they become the message list, not key parameters.
CONVERSATION_PARAMS: dict[str, frozenset[str]] = {
    "chat": frozenset({"messages"}),
    "responses": frozenset({"input", "instructions"}),
    "messages": frozenset({"messages", "system"}),
}
DEFAULT_MAX_PROMPT_CHARS = 32_768
SCOPE_VERSION = 2


@dataclass(frozen=True)
class Scope:
    """``key`` partitions the cache; ``context`` (the earlier turns, whole: their text and tool calls) is kept only
    for the admission check, ``tenant`` (also inside the key) only to label entries for operators."""

    key: str
    context: tuple[Mapping[str, Any], ...] = field(default=(), compare=False)
    tenant: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class CacheableRequest:
    scope: Scope
    text: str


class NotCacheable(ValueError):
    """The request cannot be answered from, or stored in, the cache; the message says why, ``kind`` names the
    class of reason from a fixed set (a metric label: the message may quote a client's parameter name)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def _text_of(content: Any) -> tuple[str, list[Any]]:
    """The text of a message and everything else in it (images, audio, files, a text part's other fields such as
    Anthropic's ``cache_control``), which must match exactly."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    if not isinstance(content, Sequence):
        return "", [content]
    texts, others = [], []
    for part in content:
        if isinstance(part, Mapping) and part.get("type") in TEXT_PARTS:
            texts.append(str(part.get("text", "")))
            extra = {k: v for k, v in part.items() if k not in ("type", "text")}
            if extra:
                others.append(extra)
        else:
            others.append(part)
    return "\n".join(texts), others


def call_shape(call_type: str | None, messages: Sequence[Any] | None) -> str:
    """The request's shape ("chat", "responses" or "messages") from its LiteLLM call type; a caller that passes
    no call type and gives ``messages`` is taken to be a chat completion."""
    if call_type is None:
        if messages:
            return "chat"
        raise NotCacheable("no messages and no call type: pass call_type (e.g. 'aresponses') for a Responses request",
                           "route")
    shape = CALL_TYPES.get(call_type)
    if shape is None:
        raise NotCacheable(f"{call_type} requests are not cached; only chat completions, Responses and Messages are",
                           "route")
    return shape


def _call_type_in(params: Mapping[str, Any]) -> str | None:
    """The call type LiteLLM records on the request's logging object, if the request went through LiteLLM."""
    call_type = getattr(params.get("litellm_logging_obj"), "call_type", None)
    call_type = getattr(call_type, "value", call_type)  # an enum member or its value
    return call_type if isinstance(call_type, str) else None


def conversation(shape: str, messages: Sequence[Any] | None, params: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The request as one chat-like message list: Anthropic's top-level ``system`` and the Responses API's
    ``instructions`` become a leading system message, and a Responses ``input`` string a user message, so every
    shape is keyed and matched the same way."""
    if shape == "responses":
        items = params.get("input")
        turns = [{"role": "user", "content": items}] if isinstance(items, str) else list(items or [])
        leading = params.get("instructions")
    else:
        turns = list(messages or [])
        leading = params.get("system") if shape == "messages" else None
    if leading is not None:
        turns.insert(0, {"role": "system", "content": leading})
    if not all(isinstance(turn, Mapping) for turn in turns):
        raise NotCacheable("a message is not an object", "shape")
    return turns


def temperature_of(value: Any, cache_sampled: bool) -> float:
    """The temperature that joins the key: 0 for none. An explicit temperature above 0 asks for varied answers, so
    it is cacheable only with ``cache_sampled``; one that is not a finite number >= 0 is refused outright."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NotCacheable(f"temperature {value!r} is not a number", "parameters")
    if not math.isfinite(value) or value < 0:
        raise NotCacheable(f"temperature {value!r} is not a finite number >= 0", "parameters")
    if value > 0 and not cache_sampled:
        raise NotCacheable(f"temperature {value} asks for varied answers; enable cache_sampled to cache it",
                           "sampled")
    return float(value)


def key_params_of(
    params: Mapping[str, Any],
    shape: str,
    key_params: Collection[str] = (),
    ignored_params: Collection[str] = (),
) -> dict[str, Any]:
    """The parameters that join the key, by name; raises ``NotCacheable`` naming the first unclassified one.

    ``key_params`` and ``ignored_params`` are the operator's additions (``cache.key_params``,
    ``cache.ignored_params``); ``key_params`` wins, so a built-in ignored name such as ``user`` can be keyed on.
    A parameter set to None counts as absent, as LiteLLM fills unset parameters with None.
    """
    handled = CONVERSATION_PARAMS[shape] | {"temperature"}
    sent = client_fields(params)
    keyed = {}
    for name in sorted(params):
        if params[name] is None or name in handled:
            continue
        if name in ANSWER_PARAMS or name in key_params:
            keyed[name] = params[name]
        elif (sent is None or name in sent) and not (
                name in IGNORED_PARAMS or name in ignored_params or name.startswith(_LITELLM_PRIVATE_PREFIX)
                or _PRICE_MARKER in name):
            raise NotCacheable(f"unknown parameter {name!r}; list it in cache.key_params or cache.ignored_params",
                               "parameters")
    return keyed


def client_fields(params: Mapping[str, Any]) -> frozenset[str] | None:
    """The fields the client itself sent, when the request came through the proxy (LiteLLM keeps the body in
    ``proxy_server_request``); None otherwise.

    Only what the client sent can be an unknown parameter: LiteLLM adds keywords of its own between releases
    (sessions, clients, logging objects), and the deployment's own settings are the same for every request of
    its model group, which is part of the key.
    """
    request = params.get("proxy_server_request")
    body = request.get("body") if isinstance(request, Mapping) else None
    return frozenset(str(name) for name in body) if isinstance(body, Mapping) else None


def _plain(value: Any) -> Any:
    """``value`` as JSON that always serialises the same way: string keys, lists for tuples, and non-finite floats
    spelled out (JSON has no NaN), so any parameter value yields one stable key."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return f"float:{value}"
    if value is None or isinstance(value, (str, int, float)):
        return value
    return f"{type(value).__name__}:{value}"


def canonical(value: Any) -> str:
    """One JSON text per value; raises ``NotCacheable`` for values too deeply nested (or cyclic) to key."""
    try:
        return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except RecursionError:
        raise NotCacheable("parameters nested too deeply to key", "parameters") from None


def scope_for(
    messages: Sequence[Mapping[str, Any]] | None,
    *,
    tenant: str | None,
    model: str,
    params: Mapping[str, Any] | None = None,
    cache_sampled: bool = False,
    key_params: Collection[str] = (),
    ignored_params: Collection[str] = (),
    max_prompt_chars: int = DEFAULT_MAX_PROMPT_CHARS,
    call_type: str | None = None,
) -> CacheableRequest:
    """Splits a request into its scope and the last user message's text.

    ``params`` are the keywords LiteLLM passes its cache backend. ``call_type`` (LiteLLM's: "acompletion",
    "aresponses", "anthropic_messages", ...) says the request's shape; when omitted it is read from
    ``params["litellm_logging_obj"]``, and without that a request with ``messages`` is a chat completion.
    An explicit ``temperature`` above 0 asks for varied answers, so such requests are not cacheable unless
    ``cache_sampled`` is set; then the temperature joins the key. Requests without a temperature are cached: they
    are the common case and the operator chose to turn the cache on for them. A last user message longer than
    ``max_prompt_chars`` is not cacheable: the cache would hash, tokenise and store it for little gain.
    """
    params = params or {}
    shape = call_shape(call_type or _call_type_in(params), messages)
    turns = conversation(shape, messages, params)
    last_user = max((i for i, m in enumerate(turns) if m.get("role") == "user"), default=None)
    if last_user is None:
        raise NotCacheable("no user message to match on", "shape")
    text, non_text = _text_of(turns[last_user].get("content"))
    if len(text) > max_prompt_chars:
        raise NotCacheable(f"prompt longer than cache.max_prompt_chars ({len(text)} > {max_prompt_chars} characters)",
                           "too_long")
    if not text.strip():
        raise NotCacheable("the last user message has no text", "shape")
    temperature = temperature_of(params.get("temperature"), cache_sampled)
    others = [turn for i, turn in enumerate(turns) if i != last_user]
    last_fields = {k: v for k, v in turns[last_user].items() if k not in ("role", "content")}
    material = {
        "v": SCOPE_VERSION,
        "tenant": tenant,
        "model": model,
        "shape": shape,
        "messages": others,
        "last_user_position": last_user,
        "last_user_other_parts": non_text,
        "last_user_fields": last_fields,
        "params": key_params_of(params, shape, key_params, ignored_params),
        "temperature": temperature,
    }
    key = hashlib.sha256(canonical(material).encode("utf-8", "surrogatepass")).hexdigest()
    return CacheableRequest(Scope(key, tuple(others), tenant), text)
