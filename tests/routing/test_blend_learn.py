"""Learning how much of a second opinion to blend in, from the operator's own audits.

Two operators, two second opinions. On the first operator's traffic whether the cheap tier fails is nothing a
router can read from the prompt (it fails on some summaries and not on others alike), but the second opinion knows
it: learn blends it in, and the blended router ranks the held-out audits far better. On the second operator's
traffic the router learns the difference itself (translations fail, proofs do not) and the second opinion is
noise: learn blends nothing, and the candidate scores exactly as its own model.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from costroute_plugins.quality.learn import OwnRow
from costroute_plugins.routing.artifact import RouterArtifact
from costroute_plugins.routing.base import RequestView, TierClassifier
from costroute_plugins.routing.blend import artifact_classifier
from costroute_plugins.routing.logistic import LogisticClassifier
from costroute_plugins.routing.retrain import OWN_WEIGHTS, GateRule, Retrained, own_weights, retrain
from costroute_plugins.routing.training import TrainingOptions
from tests.routing.conftest import SAMPLE

TOPICS = ("budget", "outage", "hiring plan", "roadmap", "audit", "launch", "migration", "survey", "contract",
          "pricing", "onboarding", "security review", "offsite", "quarterly goals", "vendor", "incident")
TEAMS = ("sales", "support", "legal", "finance", "design", "research", "platform", "mobile", "data", "ops",
         "marketing", "growth", "hardware", "billing", "search", "infra", "payments", "ads", "health", "travel")
WORDS = ("apple", "river", "window", "mountain", "teacher", "garden", "bicycle", "letter", "bridge", "candle",
         "forest", "kitchen", "doctor", "island", "pencil", "summer", "market", "violin", "harbor", "blanket")
LANGUAGES = ("French", "German", "Spanish", "Italian", "Dutch", "Polish", "Swedish", "Czech")
OPTIONS = TrainingOptions(regularisation=(1.0,), embedding_weights=(1.0,))
# the sample's validation split is ~30 rows, too few for the default public tolerance to be more than noise
RULE = GateRule(min_heldout=30, public_tolerance=0.15)


def _row(number: int, prompt: str, fails: bool) -> OwnRow:
    return OwnRow(id=f"req-{number}", messages=({"role": "user", "content": prompt},),
                  scores={"cheap": 0.2 if fails else 0.9, "premium": 0.9}, source="audit")


def _unreadable_fails(prompt: str) -> bool:
    return int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % 2 == 0


SUMMARIES = [f"Summarise the {topic} memo for the {team} team." for topic in TOPICS for team in TEAMS]


class KnowsTheFailures(TierClassifier):
    """A second opinion that knows, for this operator's prompts, which ones the cheap tier fails."""

    name = "insider"

    def premium_need(self, request: RequestView) -> float:
        if request.text not in SUMMARIES:
            return 0.5
        return 0.9 if _unreadable_fails(request.text) else 0.1


class Noise(TierClassifier):
    name = "noise"

    def premium_need(self, request: RequestView) -> float:
        return int(hashlib.sha256(request.text.encode()).hexdigest()[:8], 16) / 16**8


def _learn(live: RouterArtifact, embedder, rows: list[OwnRow], opinion: TierClassifier) -> Retrained:
    return retrain([str(SAMPLE)], rows, ("cheap", "premium"), live, embedder, rule=RULE, options=OPTIONS,
                   second_opinion=opinion)


@pytest.fixture(scope="module")
def informed(small_artifact: RouterArtifact, embedder) -> Retrained:
    rows = [_row(i, prompt, _unreadable_fails(prompt)) for i, prompt in enumerate(SUMMARIES)]
    return _learn(small_artifact, embedder, rows, KnowsTheFailures())


def test_a_second_opinion_that_knows_the_traffic_is_blended_in(informed: Retrained):
    blend = informed.candidate.blend

    assert blend is not None and blend.opinion == "insider" and blend.weight > 0
    assert informed.blend is not None and informed.blend.weight == blend.weight
    by_weight = informed.blend.apgr_by_weight  # measured out of fold on the training audits
    assert by_weight[blend.weight] > by_weight[0.0] + 0.2
    assert informed.new.own > informed.blend.heldout_unblended + 0.2  # held-out audits: with it, then without
    assert informed.passed and informed.candidate.training["learn"]["blend"]["weight"] == blend.weight


def test_the_blended_candidate_is_calibrated_on_its_blended_score(informed: Retrained, embedder):
    candidate = informed.candidate
    entry = candidate.calibration_entry("share<=0.30")

    assert entry is not None and 0.0 <= entry.threshold <= 1.0 and entry.premium_share <= 0.30 + 1e-9
    assert "blended score (insider" in candidate.training["calibrated_on"]
    scores = artifact_classifier(candidate, {"insider": KnowsTheFailures}).premium_need_batch(
        [RequestView.of_prompt(prompt) for prompt in SUMMARIES])
    assert np.all((scores >= 0) & (scores <= 1))


def test_a_second_opinion_that_is_noise_is_left_out(small_artifact: RouterArtifact, embedder):
    translations = [f"Translate the word '{word}' into {language}." for word in WORDS for language in LANGUAGES]
    proofs = [f"Write a rigorous proof that the sum of the first {n} odd numbers is a perfect square, case {k}."
              for n in range(3, 23) for k in range(1, 9)]
    rows = [_row(i, prompt, True) for i, prompt in enumerate(translations)]
    rows += [_row(1000 + i, prompt, False) for i, prompt in enumerate(proofs)]

    result = _learn(small_artifact, embedder, rows, Noise())

    assert result.blend is not None and result.blend.weight == 0.0 and result.candidate.blend is None
    assert result.blend.apgr_by_weight[0.0] == max(result.blend.apgr_by_weight.values())
    views = [RequestView.of_prompt(prompt) for prompt in translations[:5] + proofs[:5]]
    served = artifact_classifier(result.candidate, {"noise": Noise})
    np.testing.assert_array_equal(served.premium_need_batch(views),
                                  LogisticClassifier(result.candidate).premium_need_batch(views))


def test_by_default_learn_tries_several_own_weights_and_a_given_one_alone():
    assert own_weights(None) == OWN_WEIGHTS == (1, 2, 3)
    assert own_weights(2) == (2,)  # --weight 2
    with pytest.raises(ValueError, match="at least 1"):
        own_weights(0)
