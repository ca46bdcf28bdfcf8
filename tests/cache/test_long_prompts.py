"""Issue: all-MiniLM-L6-v2 reads the first 256 word pieces of a prompt, so prompts sharing a long prefix (a runbook,
a RAG context, few-shot examples) embed alike whatever their last line asks, and the verifier accepted most such
pairs. The cache now matches by meaning only prompts its embedder reads whole; longer ones get exact matches only,
and the lookup says so."""

from __future__ import annotations

import pytest

from costroute_plugins.cache.config import SemanticCacheConfig
from costroute_plugins.cache.semantic_cache import SKIPPED_BEYOND_WINDOW, SemanticCache, embedder_window

ANSWER = {"choices": [{"message": {"role": "assistant", "content": "cached"}, "finish_reason": "stop"}]}

RUNBOOK = """Runbook: database failover for the orders service.
1. Page the on-call database engineer and open an incident channel named after the ticket number.
2. Confirm the primary is unhealthy: check replication lag on every replica, the error rate on the orders API and
   the disk usage on the primary host. Do not fail over for lag alone.
3. Freeze deploys: set the deploy lock in the release tool and announce it in the engineering channel.
4. Promote the replica with the lowest lag: run the promote command from the bastion host, never from a laptop.
5. Point the orders service at the new primary by updating the connection secret, then restart the pods one
   availability zone at a time, waiting for health checks to pass before moving on.
6. Fence the old primary: revoke its credentials and stop the database process so that it cannot accept writes.
7. Verify writes: place a test order with the internal test account and confirm it appears in the new primary.
8. Rebuild a replica from the new primary and re-enable backups; confirm the first backup completes.
9. Lift the deploy freeze, close the incident and write the timeline while it is fresh.
Notes: the promote command takes about two minutes; during that time the orders API returns errors, which the
clients retry. Customers see slower checkout but no lost orders. If two replicas report equal lag, promote the one
in the same zone as most of the application pods. Keep the incident channel open until the replica rebuild ends.
Escalate to the platform lead if any step takes more than fifteen minutes or if a step's check fails twice.
"""
# Few-shot examples showing both formats, so the last line alone says which one is wanted.
FEW_SHOT = "".join(
    f"Record {i}: id={i}, name=item{i}, price={i * 3}.50. In JSON: {{\"id\": {i}, \"name\": \"item{i}\"}}. "
    f"In YAML: id: {i}, name: item{i}.\n"
    for i in range(1, 11)
)
SUMMARISE = "Summarise this runbook in three bullet points."
UNSAFE = "Is this runbook unsafe to run during business hours?"


@pytest.fixture
def cache(minilm) -> SemanticCache:
    return SemanticCache.from_config(SemanticCacheConfig(), minilm)


@pytest.mark.parametrize(
    ("stored", "asked"),
    [
        (RUNBOOK + SUMMARISE, RUNBOOK + UNSAFE),
        (RUNBOOK + UNSAFE, RUNBOOK + SUMMARISE),
        (FEW_SHOT + "Answer in JSON.", FEW_SHOT + "Answer in YAML."),
        (FEW_SHOT + "Answer in YAML.", FEW_SHOT + "Answer in JSON."),
    ],
)
def test_a_long_shared_prefix_with_another_last_instruction_is_not_served(stored, asked, cache, minilm):
    stored_vector, asked_vector = minilm.embed([stored, asked])
    assert float(stored_vector @ asked_vector) > 0.99  # what misled the cache: the embedder never saw the end
    cache.insert("t", stored, ANSWER)

    found = cache.find("t", asked)

    assert found.hit is None
    assert found.skipped == SKIPPED_BEYOND_WINDOW


def test_a_long_prompt_asked_again_is_still_an_exact_hit(cache):
    cache.insert("t", RUNBOOK + SUMMARISE, ANSWER)

    found = cache.find("t", RUNBOOK.upper() + SUMMARISE.lower().rstrip("."))

    assert found.hit is not None and found.hit.kind == "exact" and found.skipped is None


def test_a_short_prompt_never_gets_the_answer_of_a_long_one_that_starts_like_it(cache):
    opening = RUNBOOK[:700]
    cache.insert("t", opening + RUNBOOK[700:] + UNSAFE, ANSWER)

    assert cache.lookup("t", opening) is None


def test_prompts_differing_in_characters_the_tokenizer_cannot_read_are_not_matched_by_meaning(cache):
    cache.insert("t", "What does the 🙂 emoji mean in a work chat?", ANSWER)

    found = cache.find("t", "What does the 🙃 emoji mean in a work chat?")

    assert found.hit is None and found.skipped == SKIPPED_BEYOND_WINDOW


def test_the_window_is_the_embedders_own_count_of_word_pieces(minilm):
    """256 pieces with [CLS] and [SEP]: a 254th word still changes the embedding, a 255th does not."""
    fits = embedder_window(minilm)
    for words, read_whole in ((253, True), (254, False)):
        cat, dog = "word " * words + "cat", "word " * words + "dog"
        cat_vector, dog_vector = minilm.embed([cat, dog])
        assert fits(cat) is read_whole
        assert (float(cat_vector @ dog_vector) > 0.99999) is not read_whole


def test_a_short_rewording_is_still_a_semantic_hit(cache):
    cache.insert("t", "How do I make pancakes from scratch?", ANSWER)

    found = cache.find("t", "How can I make pancakes from scratch?")

    assert found.hit is not None and found.hit.kind == "semantic" and found.skipped is None
