"""Issue: the cache key left out parameters that change the answer (max_tokens, thinking, top_k, guided decoding,
Anthropic's top-level system prompt, ...), crashed on odd temperatures, and let any parameter nobody had classified
through. Every parameter is now known to change the answer (it joins the key), known not to (left out), or unknown
(the request is not cached and the reason names it)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costroute_plugins.cache.config import SemanticCacheConfig, SemanticCacheConfigError
from costroute_plugins.cache.scope import ANSWER_PARAMS, IGNORED_PARAMS, NotCacheable, scope_for
from costroute_plugins.messages import content_text

QUESTION = [{"role": "user", "content": "What is DNS?"}]


def _key(params=None, messages=QUESTION, **options):
    return scope_for(messages, tenant="acme", model="auto", params=params, **options).scope.key


def _litellm(call_type: str) -> SimpleNamespace:
    """What LiteLLM hands the cache backend as ``litellm_logging_obj``: it knows the request's call type."""
    return SimpleNamespace(call_type=call_type)


@pytest.mark.parametrize(
    "params",
    [
        {"max_tokens": 16}, {"max_completion_tokens": 16}, {"max_output_tokens": 16},
        {"thinking": {"type": "enabled", "budget_tokens": 2048}}, {"reasoning": {"effort": "high"}},
        {"reasoning_effort": "high"}, {"top_k": 5}, {"min_p": 0.1}, {"repetition_penalty": 1.3},
        {"guided_json": {"type": "object"}}, {"guided_regex": "[0-9]+"}, {"guided_choice": ["yes", "no"]},
        {"structured_outputs": {"choice": ["yes", "no"]}}, {"extra_body": {"guided_grammar": "root ::= 'a'"}},
        {"stop": ["\n"]}, {"stop_sequences": ["\n"]}, {"n": 3}, {"logit_bias": {"50256": -100}}, {"seed": 7},
        {"system": "Answer in French."}, {"instructions": "Answer in French."}, {"text": {"format": {"type": "json"}}},
        {"include": ["reasoning.encrypted_content"]}, {"web_search_options": {"search_context_size": "high"}},
        {"tools": [{"type": "function", "function": {"name": "lookup"}}]}, {"response_format": {"type": "json_object"}},
    ],
)
def test_a_parameter_that_changes_the_answer_separates_the_cache_key(params):
    assert _key(params) != _key()
    name, value = next(iter(params.items()))
    other = {name: 1} if value != 1 else {name: 2}
    assert _key(params) != _key(other)


def test_litellm_internals_and_transport_settings_do_not_change_the_key():
    internals = {
        "metadata": {"user_api_key_team_id": "t1", "model_group": "auto"}, "litellm_metadata": {"a": 1},
        "litellm_call_id": "call-1", "litellm_logging_obj": _litellm("acompletion"), "litellm_trace_id": "tr",
        "proxy_server_request": {"url": "/v1/chat/completions", "body": {}}, "secret_fields": {"raw_headers": {}},
        "parent_otel_span": object(), "_context_compaction_state": object(), "api_key": "sk-test", "api_base": "x",
        "timeout": 600, "max_retries": 0, "stream": True, "stream_options": {"include_usage": True}, "user": "u-1",
        "ttl": 60, "cache": {"no-store": False}, "caching": True, "model": "openai/gpt-4.1", "model_info": {"id": 1},
        "input_cost_per_token": 1e-7, "output_cost_per_token": 2e-7, "_litellm_internal_flag": True, "tags": ["x"],
        "custom_llm_provider": "openai", "mock_response": None,
    }
    assert _key(internals) == _key()


def test_an_unknown_parameter_is_not_cacheable_until_the_operator_classifies_it():
    with pytest.raises(NotCacheable, match="unknown parameter 'frobnicate'; list it in cache.key_params or "
                                           "cache.ignored_params"):
        _key({"frobnicate": 3})

    assert _key({"frobnicate": 3}, ignored_params=["frobnicate"]) == _key()
    assert _key({"frobnicate": 3}, key_params=["frobnicate"]) != _key({"frobnicate": 4}, key_params=["frobnicate"])


def test_key_params_can_key_on_a_parameter_that_is_ignored_by_default():
    assert _key({"user": "ann"}) == _key({"user": "bob"})
    assert _key({"user": "ann"}, key_params=["user"]) != _key({"user": "bob"}, key_params=["user"])


def test_the_built_in_lists_never_overlap():
    assert not ANSWER_PARAMS & IGNORED_PARAMS


@pytest.mark.parametrize("temperature", [float("nan"), float("inf"), -1, -0.5, "abc", "0.5", [1], {"t": 1}, True])
def test_a_temperature_that_is_not_a_finite_number_at_least_zero_is_not_cacheable(temperature):
    with pytest.raises(NotCacheable, match="temperature"):
        _key({"temperature": temperature}, cache_sampled=True)


def test_temperature_zero_in_any_spelling_is_the_default_key():
    assert _key({"temperature": 0}) == _key({"temperature": 0.0}) == _key({"temperature": None}) == _key()


@settings(max_examples=200, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3) | st.integers(), children,
                                                                        max_size=3),
    max_leaves=12,
))
def test_any_json_like_parameter_value_gives_one_stable_key(value):
    assert _key({"tools": value}) == _key({"tools": value})


def test_non_finite_numbers_and_mixed_key_types_in_parameters_key_without_crashing():
    assert _key({"logit_bias": {1: -100, "2": 5}}) != _key()
    assert _key({"extra_body": {"x": math.nan}}) != _key({"extra_body": {"x": math.inf}})


def test_parameters_nested_too_deeply_are_not_cacheable():
    nested: list = []
    for _ in range(5000):
        nested = [nested]
    with pytest.raises(NotCacheable, match="nested too deeply"):
        _key({"extra_body": nested})


def test_anthropic_top_level_system_prompt_joins_the_key_as_the_first_message():
    messages_api = _litellm("anthropic_messages")
    terse = _key({"system": "Be terse.", "litellm_logging_obj": messages_api, "max_tokens": 100})
    french = _key({"system": "Answer in French.", "litellm_logging_obj": messages_api, "max_tokens": 100})
    blocks = _key({"system": [{"type": "text", "text": "Be terse."}], "litellm_logging_obj": messages_api,
                   "max_tokens": 100})
    assert len({terse, french, blocks}) == 3


def test_a_messages_request_never_shares_a_key_with_a_chat_request():
    assert _key({"litellm_logging_obj": _litellm("anthropic_messages")}) != _key({"litellm_logging_obj":
                                                                                   _litellm("acompletion")})


def test_a_responses_request_with_string_input_is_keyed_on_its_instructions_and_matched_on_its_input():
    params = {"input": "What is DNS?", "instructions": "Be terse.", "litellm_logging_obj": _litellm("aresponses")}
    request = scope_for(None, tenant="acme", model="auto", params=params)
    french = scope_for([], tenant="acme", model="auto", params=params | {"instructions": "Answer in French."})

    assert request.text == "What is DNS?"
    assert [content_text(m.get("content")) for m in request.scope.context] == ["Be terse."]
    assert request.scope != french.scope
    assert request.scope != scope_for([{"role": "system", "content": "Be terse."}, *QUESTION], tenant="acme",
                                      model="auto").scope


def test_a_responses_request_with_an_item_list_matches_on_the_last_user_item():
    items = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello!"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "What is DNS?"}]},
    ]
    request = scope_for(None, tenant="acme", model="auto", params={"input": items}, call_type="aresponses")
    assert request.text == "What is DNS?"
    assert [content_text(m.get("content")) for m in request.scope.context] == ["Hi", "Hello!"]


@pytest.mark.parametrize("call_type", ["aembedding", "atext_completion", "arerank", "atranscription"])
def test_other_call_types_are_not_cacheable(call_type):
    with pytest.raises(NotCacheable, match=f"{call_type} requests are not cached"):
        _key({"input": "What is DNS?", "litellm_logging_obj": _litellm(call_type)}, messages=None)


def test_input_without_a_call_type_is_not_guessed_at():
    with pytest.raises(NotCacheable, match="pass call_type"):
        _key({"input": "What is DNS?"}, messages=None)


def test_a_prompt_longer_than_the_limit_is_not_cacheable():
    with pytest.raises(NotCacheable, match="prompt longer than cache.max_prompt_chars"):
        _key(messages=[{"role": "user", "content": "x" * 101}], max_prompt_chars=100)


def test_the_cache_scopes_requests_with_its_own_settings(make_cache):
    cache = make_cache(ignored_params=["x_trace"], key_params=["user"], max_prompt_chars=50)

    assert cache.scope_for(QUESTION, tenant="a", model="m", params={"x_trace": "1", "user": "ann"}).scope != \
        cache.scope_for(QUESTION, tenant="a", model="m", params={"x_trace": "2", "user": "bob"}).scope
    with pytest.raises(NotCacheable, match="max_prompt_chars"):
        cache.scope_for([{"role": "user", "content": "y" * 51}], tenant="a", model="m")


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"ignored_params": ["max_tokens"]}, "cache.ignored_params: ['max_tokens'] change the answer"),
        ({"key_params": ["x"], "ignored_params": ["x"]}, "key_params, ignored_params: both list ['x']"),
        ({"max_prompt_chars": 0}, "cache.max_prompt_chars"),
    ],
)
def test_a_wrong_parameter_setting_names_the_key_and_the_fix(section, message):
    with pytest.raises(SemanticCacheConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        SemanticCacheConfig.parse(section)
