"""The verifier refuses near-duplicates whose answers differ, and its artifact is plain versioned JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from costroute_plugins.artifacts import ArtifactError
from costroute_plugins.cache.features import FEATURE_NAMES, Idf, pair_features
from costroute_plugins.cache.text import Facts, normalise, text_hash
from costroute_plugins.cache.verifier import (
    DEFAULT_ARTIFACT,
    ChainVerifier,
    EmbeddingScorer,
    LearnedVerifier,
    LogisticModel,
    RuleVerifier,
)


def test_prompts_differing_only_in_case_spacing_and_punctuation_share_an_exact_key():
    assert text_hash("What is  the capital of France?") == text_hash("what is the capital of france")
    assert normalise("Is 3.5 > 3?") == "is 3.5 3"
    assert text_hash("What is 3.5?") != text_hash("What is 35?")


def test_facts_read_numbers_units_entities_and_negation():
    facts = Facts("Don't convert 1,000 km to miles for Paris in 2024.")
    assert facts.numbers == {"1000", "2024"}
    assert facts.units == {"kilometre", "mile"}
    assert "paris" in facts.entities
    assert facts.negations == 1
    assert Facts("What is two plus three?").numbers == {"2", "3"}


@pytest.mark.parametrize(
    ("query", "cached", "rule"),
    [
        ("What is 12 times 7?", "What is 13 times 7?", "number"),
        ("What is the capital of France?", "What is the capital of Germany?", "entity"),
        ("Is it safe to eat sushi?", "Is it not safe to eat sushi?", "negation"),
        ("Convert 10 kg to pounds.", "Convert 10 kg to ounces.", "unit"),
        ("Is a cheetah faster than a lion?", "Is a lion faster than a cheetah?", "direction"),
        ("Convert miles to kilometers.", "Convert kilometers to miles.", "direction"),
    ],
)
def test_an_answer_changing_difference_is_refused_with_its_reason(query, cached, rule):
    verdict = RuleVerifier().verify(query, cached, 0.99)
    assert not verdict.accepted
    assert verdict.reason == f"{rule} differs"


def test_a_paraphrase_with_the_same_details_passes_the_rules():
    verdict = RuleVerifier().verify("How can I learn Python quickly?", "What is the fastest way to learn Python?", 0.9)
    assert verdict.accepted


def test_an_unknown_rule_name_is_rejected_with_the_valid_ones():
    with pytest.raises(ValueError, match="valid rules are"):
        RuleVerifier(["numbers"])


def test_the_shipped_artifact_loads_and_scores_an_obvious_paraphrase_above_a_topic_change():
    verifier = LearnedVerifier.load(DEFAULT_ARTIFACT, embedder="all-MiniLM-L6-v2")
    same = verifier.probability("How do I learn to cook?", "How can I learn to cook?", 0.97)
    other = verifier.probability("How do I learn to cook?", "How do I learn to swim well?", 0.86)
    assert same > other
    assert json.loads(DEFAULT_ARTIFACT.read_text())["schema_version"] in (2, 3)


def _reading_embeddings(tmp_path) -> LearnedVerifier:
    """A schema-3 verifier whose embedding scorer is the cosine itself, saved and loaded back."""
    n = len(FEATURE_NAMES) + 1
    model = LogisticModel((0.0,) * n, (1.0,) * n, (0.0,) * (n - 1) + (1.0,), 0.0)
    scorer = EmbeddingScorer(np.concatenate([np.full(384, 40.0), np.zeros(384)]), -36.0)
    LearnedVerifier(model, 0.5, "all-MiniLM-L6-v2", embedding=scorer, floor=0.85).save(tmp_path / "v3.json")
    return LearnedVerifier.load(tmp_path / "v3.json", embedder="all-MiniLM-L6-v2")


def test_a_verifier_reading_embeddings_weighs_the_vectors_not_only_their_cosine(tmp_path):
    verifier = _reading_embeddings(tmp_path)
    rng = np.random.default_rng(1)
    u = rng.standard_normal(384)
    u /= np.linalg.norm(u)
    near = u + 0.01 * rng.standard_normal(384)
    near /= np.linalg.norm(near)
    far = u + 0.05 * rng.standard_normal(384)
    far /= np.linalg.norm(far)

    assert json.loads((tmp_path / "v3.json").read_text())["features"][-1] == "embedding_score"
    assert verifier.verify("How do I cook rice?", "How do I cook rice well?", 0.95, vectors=(u, near)).accepted
    assert not verifier.verify("How do I cook rice?", "How do I cook rice well?", 0.95, vectors=(u, far)).accepted


def test_a_verifier_reading_embeddings_refuses_a_pair_offered_without_them_or_below_its_floor(tmp_path):
    verifier = _reading_embeddings(tmp_path)
    vector = np.full(384, 384 ** -0.5)

    assert verifier.verify("How do I learn to cook?", "How can I learn to cook?", 0.97).reason == \
        "no embeddings to verify with"
    below = verifier.verify("How do I learn to cook?", "How can I learn to cook?", 0.84, vectors=(vector, vector))
    assert not below.accepted and "below the verifier's trained floor" in below.reason


def test_a_schema_2_artifact_without_embeddings_still_loads_and_scores_text_alone(tmp_path):
    n = len(FEATURE_NAMES)
    model = LogisticModel((0.0,) * n, (1.0,) * n, (1.0,) + (0.0,) * (n - 1), -0.9)
    artifact = LearnedVerifier(model, 0.5, "all-MiniLM-L6-v2").to_artifact() | {"schema_version": 2}
    (tmp_path / "v2.json").write_text(json.dumps(artifact))

    old = LearnedVerifier.load(tmp_path / "v2.json", embedder="all-MiniLM-L6-v2")

    assert old.embedding is None
    assert old.verify("How do I learn to cook?", "How can I learn to cook?", 0.97).accepted


def test_the_embedding_scorer_is_symmetric_and_survives_a_round_trip_through_json():
    rng = np.random.default_rng(0)
    u, v = (x / np.linalg.norm(x) for x in rng.standard_normal((2, 384)))
    scorer = EmbeddingScorer(rng.standard_normal(768), 0.3)
    again = EmbeddingScorer.from_json(json.loads(json.dumps(scorer.to_json())))

    assert scorer.logit(u, v) == pytest.approx(scorer.logit(v, u))
    assert again.logit(u, v) == pytest.approx(scorer.logit(u, v), abs=1e-5)
    with pytest.raises(ValueError, match="2 x dim"):
        EmbeddingScorer.from_json(scorer.to_json() | {"dim": 10})


def test_an_artifact_from_another_embedder_or_schema_is_refused_with_the_fix(tmp_path):
    artifact = json.loads(DEFAULT_ARTIFACT.read_text())
    with pytest.raises(ArtifactError, match="retrain it with `costroute train-verifier`"):
        LearnedVerifier.from_artifact(artifact, embedder="bge-small")
    with pytest.raises(ArtifactError, match="schema_version"):
        LearnedVerifier.from_artifact(artifact | {"schema_version": 99})
    with pytest.raises(ArtifactError, match="other features"):
        LearnedVerifier.from_artifact(artifact | {"features": ["similarity"]})
    with pytest.raises(ArtifactError, match="incomplete"):
        LearnedVerifier.from_artifact(artifact | {"features": artifact["features"] + ["embedding_score"],
                                                  "embedding": {"kind": "logistic_product_distance", "dim": 384,
                                                                "intercept": 0.0, "coef": [0.0]}})


def test_a_saved_verifier_reloads_with_identical_scores(tmp_path):
    n = len(FEATURE_NAMES)
    model = LogisticModel((0.0,) * n, (1.0,) * n, tuple(0.1 * i for i in range(n)), -0.5)
    verifier = LearnedVerifier(model, 0.7, "all-MiniLM-L6-v2")
    verifier.save(tmp_path / "v.json", note="test")
    again = LearnedVerifier.load(tmp_path / "v.json")
    features = pair_features("a b c", "a b d", 0.9)
    assert again.model.probability(features) == pytest.approx(model.probability(features))
    assert json.loads((tmp_path / "v.json").read_text())["note"] == "test"


def test_a_chain_accepts_only_when_every_verifier_accepts():
    chain = ChainVerifier(RuleVerifier(["number"]), RuleVerifier(["entity"]))
    assert chain.verify("Flights to Paris", "Flights to Rome", 0.95).reason == "entity differs"
    assert chain.verify("Flights to Paris", "flights to paris!", 0.95).accepted


def test_rare_words_weigh_more_than_common_ones_when_only_one_prompt_has_them():
    idf = Idf.fit(["How do I learn Python?", "How do I learn Java?", "How do I learn to cook?",
                   "Where do I learn to swim?", "How do I renew a passport?"] * 2)
    assert idf("learn") < idf("passport") <= idf.default
    assert Idf.from_json(json.loads(json.dumps(idf.to_json()))) == idf

    names = list(FEATURE_NAMES)
    common = pair_features("How do I learn to cook?", "How do I cook?", 0.9, idf)
    rare = pair_features("How do I renew a passport?", "How do I renew?", 0.9, idf)
    assert rare[names.index("idf_missing_max")] > common[names.index("idf_missing_max")]


@pytest.mark.parametrize(
    ("a", "b", "feature"),
    [
        ("Why do deer make sounds?", "How do deer make sounds?", "question_word_mismatch"),
        ("What is the best laptop for students?", "What is the worst laptop for students?", "comparative_differs"),
        ("Should I learn Rust?", "Can I learn Rust?", "modal_differs"),
        ("How do I reset my password?", "How do I reset your password?", "pronoun_differs"),
        ("What is the colour of the sky?", "What is the color of the sky?", "spelling_variant"),
    ],
)
def test_the_kind_of_word_that_differs_is_a_feature(a, b, feature):
    names = list(FEATURE_NAMES)
    assert pair_features(a, b, 0.95)[names.index(feature)] > 0
    assert pair_features(a, a, 1.0)[names.index(feature)] == 0


def test_boosted_trees_score_exactly_as_the_sklearn_model_they_were_exported_from(tmp_path):
    from costroute_plugins.cache.train import fit_model

    rng = np.random.default_rng(0)
    features = rng.standard_normal((400, len(FEATURE_NAMES)))
    labels = features[:, 0] + 0.5 * features[:, 3] * features[:, 5] > 0
    model = fit_model("boosted", features, labels)
    verifier = LearnedVerifier(model, 0.5, "all-MiniLM-L6-v2")
    verifier.save(tmp_path / "trees.json")

    again = LearnedVerifier.load(tmp_path / "trees.json")

    assert json.loads((tmp_path / "trees.json").read_text())["kind"] == "gradient_boosting"
    accuracy = np.mean([(again.model.probability(row) >= 0.5) == label for row, label in zip(features, labels)])
    assert accuracy > 0.9
    assert again.model.probability(features[0]) == pytest.approx(model.probability(features[0]))


def test_an_artifact_of_an_unknown_model_kind_is_refused_with_the_fix():
    artifact = json.loads(DEFAULT_ARTIFACT.read_text())
    with pytest.raises(ArtifactError, match="kind 'forest' is unknown"):
        LearnedVerifier.from_artifact(artifact | {"kind": "forest"})
    with pytest.raises(ArtifactError, match="incomplete"):
        LearnedVerifier.from_artifact({k: v for k, v in artifact.items() if k != "idf"})
