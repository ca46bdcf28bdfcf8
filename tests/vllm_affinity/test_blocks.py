"""Prompt blocks: equal prefixes give equal block keys, and a differing token changes every later key."""

from __future__ import annotations

import pytest

from costroute_plugins.vllm_affinity.blocks import CharApproxTokenizer, HFTokenizer, block_hashes, load_tokenizer
from tests.vllm_affinity.conftest import TINY_MODEL


def _chat(system: str, user: str) -> list[dict]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def test_two_requests_sharing_a_system_prompt_share_its_full_blocks() -> None:
    tokenizer = CharApproxTokenizer(4)
    system = "You are the billing assistant. " * 40
    first = block_hashes(tokenizer.units(_chat(system, "Where is my invoice?")), 16)
    second = block_hashes(tokenizer.units(_chat(system, "Cancel my order please")), 16)

    shared = len(system) // (4 * 16)
    assert first[:shared] == second[:shared]
    assert first[-1] != second[-1]


def test_a_change_in_the_first_block_changes_every_block_after_it() -> None:
    units = list(range(64))
    changed = [999] + units[1:]

    assert set(block_hashes(units, 16)).isdisjoint(block_hashes(changed, 16))


def test_only_full_blocks_are_keyed_like_vllm_caches_only_full_blocks() -> None:
    assert len(block_hashes(list(range(127)), 128)) == 0
    assert len(block_hashes(list(range(300)), 128)) == 2


def test_content_parts_hash_like_the_equivalent_string() -> None:
    tokenizer = CharApproxTokenizer()
    parts = [{"role": "user", "content": [{"type": "text", "text": "hello "}, {"type": "text", "text": "world"}]}]
    plain = [{"role": "user", "content": "hello world"}]

    assert tokenizer.units(parts) == tokenizer.units(plain)


def test_the_served_models_tokenizer_and_chat_template_are_used_when_given(tiny_model) -> None:
    tokenizer = HFTokenizer(tiny_model)
    rendered = tokenizer.render(_chat("Be brief.", "Hi"))

    assert rendered == "<|system|>\nBe brief.\n<|user|>\nHi\n<|assistant|>\n"
    assert all(isinstance(unit, int) for unit in tokenizer.units(_chat("Be brief.", "Hi")))


def test_a_missing_tokenizer_falls_back_to_the_character_approximation(tmp_path, caplog) -> None:
    tokenizer = load_tokenizer(str(tmp_path / "nowhere"), chars_per_token=3)

    assert tokenizer.name == "chars/3"
    assert "cannot load tokenizer" in caplog.text


@pytest.fixture
def tiny_model():
    if not (TINY_MODEL / "tokenizer.json").exists():
        pytest.skip("tiny model not generated (make vllm-tiny-model)")
    return TINY_MODEL
