"""Only the last user message is compared by meaning; everything else must match exactly."""

from __future__ import annotations

import pytest

from costroute_plugins.cache.scope import NotCacheable, scope_for

SYSTEM = {"role": "system", "content": "You are terse."}


def _scope(messages, **kwargs):
    return scope_for(messages, **({"tenant": "acme", "model": "auto"} | kwargs))


def test_the_last_user_message_is_the_text_and_not_part_of_the_key():
    one = _scope([SYSTEM, {"role": "user", "content": "What is DNS?"}])
    two = _scope([SYSTEM, {"role": "user", "content": "Explain DNS"}])
    assert one.text == "What is DNS?"
    assert one.scope == two.scope


@pytest.mark.parametrize(
    "change",
    [
        {"tenant": "globex"},
        {"model": "premium"},
        {"messages": [{"role": "system", "content": "You are verbose."}, {"role": "user", "content": "What is DNS?"}]},
        {"params": {"response_format": {"type": "json_object"}}},
        {"params": {"tools": [{"type": "function", "function": {"name": "lookup"}}]}},
    ],
)
def test_tenant_model_system_prompt_and_answer_changing_params_separate_scopes(change):
    base = {"messages": [SYSTEM, {"role": "user", "content": "What is DNS?"}], "tenant": "acme", "model": "auto"}
    assert scope_for(**base).scope != scope_for(**(base | change)).scope


def test_every_earlier_turn_counts_not_only_the_last_few():
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"} for i in range(10)]
    changed_first = [{"role": "user", "content": "a different opening"}, *history[1:]]
    question = {"role": "user", "content": "And why?"}
    assert _scope([*history, question]).scope != _scope([*changed_first, question]).scope
    assert _scope([*history, question]).scope.context[0]["content"] == "turn 0"


def test_images_in_the_last_message_join_the_key():
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    other = {"type": "image_url", "image_url": {"url": "https://example.com/dog.png"}}
    text = {"type": "text", "text": "What animal is this?"}
    cat = _scope([{"role": "user", "content": [text, image]}])
    dog = _scope([{"role": "user", "content": [text, other]}])
    assert cat.text == dog.text == "What animal is this?"
    assert cat.scope != dog.scope


def test_sampled_requests_are_not_cacheable_unless_opted_in():
    messages = [{"role": "user", "content": "Write a haiku"}]
    with pytest.raises(NotCacheable, match="cache_sampled"):
        _scope(messages, params={"temperature": 0.8})
    warm = _scope(messages, params={"temperature": 0.8}, cache_sampled=True)
    assert warm.scope != _scope(messages, params={"temperature": 0}).scope
    assert _scope(messages).scope == _scope(messages, params={"temperature": 0}).scope


def test_a_request_without_a_user_message_is_not_cacheable():
    with pytest.raises(NotCacheable):
        _scope([SYSTEM])
