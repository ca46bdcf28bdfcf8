"""An answer that stopped short or calls a tool is never replayed from cache, whichever API produced it."""

from __future__ import annotations

import pytest

from costroute_plugins.cache.admission import AdmissionPolicy

OPENAI_OK = {"choices": [{"finish_reason": "stop", "message": {"role": "assistant", "content": "Paris."}}]}
ANTHROPIC_OK = {"type": "message", "role": "assistant", "content": [{"type": "text", "text": "Paris."}],
                "stop_reason": "end_turn"}
RESPONSES_OK = {"object": "response", "status": "completed", "output": [
    {"type": "reasoning", "summary": []},
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Paris."}]}]}


@pytest.mark.parametrize("response", [OPENAI_OK, ANTHROPIC_OK, RESPONSES_OK], ids=["chat", "anthropic", "responses"])
def test_a_complete_text_answer_is_admitted(response):
    assert AdmissionPolicy().admit("What is the capital of France?", response).admitted


@pytest.mark.parametrize(("response", "reason"), [
    ({**ANTHROPIC_OK, "stop_reason": "max_tokens"}, "truncated"),
    ({**ANTHROPIC_OK, "stop_reason": "tool_use",
      "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {"city": "Paris"}}]}, "calls a tool"),
    ({**ANTHROPIC_OK, "stop_reason": "refusal"}, "filtered"),
    ({**RESPONSES_OK, "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}, "truncated"),
    ({**RESPONSES_OK, "output": [{"type": "function_call", "name": "lookup", "arguments": "{}"}]}, "calls a tool"),
    ({**RESPONSES_OK, "status": "failed"}, "did not complete"),
    ({"choices": [{"finish_reason": "length", "text": "Par"}]}, "truncated"),
], ids=["anthropic-max-tokens", "anthropic-tool-use", "anthropic-refusal", "responses-incomplete",
        "responses-function-call", "responses-failed", "completions-length"])
def test_an_answer_that_stopped_short_or_calls_a_tool_is_refused(response, reason):
    admission = AdmissionPolicy().admit("What is the capital of France?", response)

    assert not admission.admitted and reason in admission.reason


def test_an_operator_may_choose_to_cache_truncated_answers():
    truncated = {**ANTHROPIC_OK, "stop_reason": "max_tokens"}

    assert AdmissionPolicy(cache_truncated=True).admit("Write a long story", truncated).admitted


def test_a_secret_in_an_earlier_assistant_tool_call_keeps_the_answer_out_of_the_cache():
    from costroute_plugins.cache.scope import scope_for

    conversation = [
        {"role": "user", "content": "Log in to the billing API for me"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {
            "name": "login", "arguments": '{"password": "Tr0ub4dor&3xK9"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        {"role": "user", "content": "What is my balance?"},
    ]
    request = scope_for(conversation, tenant="team:a", model="premium")

    admission = AdmissionPolicy().admit(request.text, OPENAI_OK, request.scope.context)

    assert not admission.admitted and admission.reason.startswith("conversation contains")
