"""The documented recipe that turns outcomes JSONL + pairs JSONL into a replay workload.

Traffic is drawn request by request, in arrival order, for tenants whose volumes follow a Zipf law (a few big
tenants, a long tail), as production traffic does:

- ``repeat``  (``repeat_share``): the tenant asks again something it asked before, picked uniformly among the
  distinct prompts it sent earlier, so early prompts gather more repeats (they are available longer) without a
  handful of them taking over the day, which would make one replay's figures hinge on a few prompts. Scored like
  the original prompt.
- ``pair-a`` / ``pair-b`` (``paraphrase_share`` each): a question from the pairs data, then later, from the same
  tenant, its partner. A ``b`` labelled duplicate asks the same question as its ``a`` (same qid), a
  non-duplicate asks another one (own qid), so a cache hit on it serves a wrong answer and scores 0. Pairs are
  sampled uniformly, keeping the data's duplicate rate (QQP: 31%, hard negatives included).
- ``fresh``: the rest; a prompt of the outcomes data never sent before.

Fresh prompts come only from the router artifact's held-out ``test`` split (by default), never from the rows
it was trained or calibrated on; rows that do not score every tier's model are left out of the pool (Arena's judge
left a few answers ungraded). With ``each_tenant_asks_all`` every tenant draws its fresh prompts from its own
shuffled copy of the pool, tenants picked in proportion to the prompts they have left (so they stay level):
the semantic cache is scoped per tenant, so each tenant's first ask of a prompt is routed afresh, and a small
held-out set (Arena's test split: 34 prompts) still makes a replay of over 1,000 routed requests with enough
tenants. Figures then rest on that many distinct prompts, not on the request count.

Per-tier quality: ``cheap`` = the cheap model's recorded score, ``premium`` = the premium model's, ``balanced`` =
``balanced_model``'s when the data grades one (Arena grades Mixtral-8x7B between Mistral-7B and GPT-4-Turbo);
without one, ``balanced`` has no outcome data, so it scores ``cheap + balanced_gap x (premium - cheap)``:
it closes that share of the gap where the two differ. The default 0.8 is rounded down from public MMLU figures
of the configured models: gpt-4.1-mini 87.5 sits 86% of the way from Mixtral-8x7B (70.6) to gpt-4.1 (90.2).
Pair questions have no recorded outcomes, so each scores, per tier, the mean score of the held-out prompts: what a
tier is expected to score on a question nothing is known about. Their tier shares therefore cost what they cost on
average, and routing them shows no skill either way (the report gives their slice of the loss apart). Borrowing
one random row's 0/1 scores instead has the same expectation but adds a coin flip per pair question: a standard
deviation of 0.9 points on the quality loss of the default 1,000-request replay (seed 0), on a slice where no
routing decision is right or wrong for a reason.

Answer lengths: each tier's recorded answer length (``answer_chars``, four characters a token) when the row
carries all three tiers' (Arena does: GPT-4-Turbo answers run about twice as long as Mistral-7B's, which moves
cost and latency); otherwise ``answer_tokens`` (default 150) times a per-prompt log-normal factor (sigma 0.5), the
same for every tier. Prompt tokens are four characters a token.

Budgets: each tenant gets a daily cap of ``budget_fraction`` (0.6) of what its traffic would cost at
always-premium (priced by the replay from the proxy config), action ``downgrade``: about 1.5 times what costroute
is expected to spend, the headroom an operator gives a guard rail; a tenant with heavier or harder traffic than
usual runs into the soft limit late in the day.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from costroute_plugins.cache.pairs import Pair
from costroute_plugins.replay.workload import PAIR_QID_PREFIX, Request, Tenant, approx_tokens
from costroute_plugins.routing.outcomes import Outcome, SplitRule

TIERS = ("cheap", "balanced", "premium")
# Per-tier latency the stubs imitate: a self-hosted small model, a mid-size and a large hosted one.
DEFAULT_TIMINGS = {
    "cheap": {"ttft_ms": 120.0, "ms_per_token": 6.0},
    "balanced": {"ttft_ms": 350.0, "ms_per_token": 9.0},
    "premium": {"ttft_ms": 600.0, "ms_per_token": 18.0},
}


#: ``source`` of pair questions: their scores are the held-out prompts' mean, not a recorded outcome's.
UNRECORDED = "mean-of-held-out"


class RecipeError(ValueError):
    """The inputs cannot make the requested workload (too few prompts, bad shares)."""


@dataclass(frozen=True)
class Recipe:
    n: int = 1000
    tenants: int = 4
    repeat_share: float = 0.35
    paraphrase_share: float = 0.08
    stream_share: float = 0.3
    seed: int = 0
    split: str = "test"
    cheap_model: str = "mistralai/Mixtral-8x7B-Instruct-v0.1"
    premium_model: str = "gpt-4-1106-preview"
    balanced_gap: float = 0.8
    answer_tokens: int = 150
    budget_fraction: float = 0.6
    balanced_model: str | None = None
    each_tenant_asks_all: bool = False

    @property
    def tier_models(self) -> dict[str, str]:
        """Tier -> the outcomes model whose recorded score (and answer length) stands for it."""
        models = {"cheap": self.cheap_model, "premium": self.premium_model}
        if self.balanced_model:
            models["balanced"] = self.balanced_model
        return models

    def check(self) -> None:
        if self.n < 1 or self.tenants < 1:
            raise RecipeError("--n and --tenants must be at least 1")
        for name in ("repeat_share", "paraphrase_share", "stream_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise RecipeError(f"--{name.replace('_', '-')} must be in [0, 1]")
        if self.repeat_share + 2 * self.paraphrase_share > 1.0:
            raise RecipeError("--repeat-share + 2 x --paraphrase-share must not exceed 1 (each paraphrase also "
                              "sends its original)")
        if not 0.0 <= self.balanced_gap <= 1.0:
            raise RecipeError("--balanced-gap must be in [0, 1]")


def tier_scores(outcome: Outcome, recipe: Recipe) -> dict[str, float]:
    for model in recipe.tier_models.values():
        if model not in outcome.scores:
            raise RecipeError(f"outcome {outcome.id} has no score for {model!r} (it has {sorted(outcome.scores)}); "
                              "pass --cheap-model / --balanced-model / --premium-model")
    cheap, premium = outcome.scores[recipe.cheap_model], outcome.scores[recipe.premium_model]
    balanced = (outcome.scores[recipe.balanced_model] if recipe.balanced_model
                else round(cheap + recipe.balanced_gap * (premium - cheap), 6))
    return {"cheap": cheap, "balanced": balanced, "premium": premium}


def recorded_answer_tokens(outcome: Outcome, recipe: Recipe) -> dict[str, int] | None:
    """Per tier, the recorded answer's length in tokens (four characters a token, as the stub counts), or None
    unless the row records all three tiers' answers (one synthetic length beats a mix of two kinds)."""
    models = recipe.tier_models
    if not all(tier in models and models[tier] in outcome.answer_chars for tier in TIERS):
        return None
    return {tier: max(1, outcome.answer_chars[models[tier]] // 4) for tier in TIERS}


def mean_scores(rows: Sequence[Outcome], recipe: Recipe) -> dict[str, float]:
    """Per tier, the mean score over ``rows``: the expected score of a question without a recorded outcome."""
    per_row = [tier_scores(row, recipe) for row in rows]
    return {tier: round(sum(scores[tier] for scores in per_row) / len(per_row), 6) for tier in TIERS}


def held_out(outcomes: Sequence[Outcome], recipe: Recipe, rule: SplitRule) -> list[Outcome]:
    """Rows of the requested split, one per distinct prompt text, single-turn only (the stub keys on text),
    scoring every tier's model; a split whose rows all lack one fails, naming the model."""
    seen: set[str] = set()
    rows = []
    unscored: list[Outcome] = []
    for row in outcomes:
        if recipe.split != "all" and rule.split_of(row.text) != recipe.split:
            continue
        if not all(model in row.scores for model in recipe.tier_models.values()):
            unscored.append(row)
        elif row.text and row.text not in seen and len(row.messages) == 1:
            seen.add(row.text)
            rows.append(row)
    if unscored and not rows:
        tier_scores(unscored[0], recipe)  # raises, naming the model the data lacks
    return rows


def build(outcomes: Sequence[Outcome], pairs: Sequence[Pair], recipe: Recipe,
          rule: SplitRule) -> tuple[dict, list[Request]]:
    """The workload's header and requests."""
    recipe.check()
    rng = random.Random(recipe.seed)
    pool = held_out(outcomes, recipe, rule)
    if not pool:
        raise RecipeError(f"no {recipe.split!r}-split prompts in the outcomes files; pass other outcomes or --split")
    rng.shuffle(pool)
    texts = {row.text for row in pool}
    pair_pool = [p for p in pairs if p.a != p.b and p.a not in texts and p.b not in texts]
    rng.shuffle(pair_pool)
    weights = [1.0 / (rank + 1) for rank in range(recipe.tenants)]
    names = [f"tenant-{rank + 1}" for rank in range(recipe.tenants)]
    # each_tenant_asks_all: a shuffled copy of the pool per tenant, drawn from the end.
    own_pools = {name: rng.sample(pool, len(pool)) for name in names} if recipe.each_tenant_asks_all else {}

    history: dict[str, list[Request]] = {name: [] for name in names}
    open_pairs: dict[str, list[tuple[Request, Pair]]] = {name: [] for name in names}
    used_pair_texts: set[str] = set()
    requests: list[Request] = []
    fresh_index = 0

    def answer_tokens() -> dict[str, int]:
        length = max(8, round(recipe.answer_tokens * math.exp(rng.gauss(0.0, 0.5) - 0.125)))
        return {tier: length for tier in TIERS}

    lengths: dict[str, dict[str, int]] = {}

    def outcome_tokens(outcome: Outcome) -> dict[str, int]:
        """One length per prompt however many tenants ask it: the stub answers a prompt text one way."""
        if outcome.text not in lengths:
            lengths[outcome.text] = recorded_answer_tokens(outcome, recipe) or answer_tokens()
        return lengths[outcome.text]

    unrecorded = mean_scores(pool, recipe)

    def next_fresh(tenant: str) -> Outcome:
        nonlocal fresh_index
        if recipe.each_tenant_asks_all:
            if not own_pools[tenant]:
                raise RecipeError(f"each of the {recipe.tenants} tenants asked all {len(pool)} distinct "
                                  f"{recipe.split!r}-split prompts; lower --n or raise --tenants")
            return own_pools[tenant].pop()
        if fresh_index >= len(pool):
            raise RecipeError(f"only {len(pool)} distinct {recipe.split!r}-split prompts in the outcomes files; "
                              "lower --n or add outcomes files")
        fresh_index += 1
        return pool[fresh_index - 1]

    def next_pair() -> Pair | None:
        while pair_pool:
            pair = pair_pool.pop()
            if pair.a not in used_pair_texts and pair.b not in used_pair_texts:
                used_pair_texts.update((pair.a, pair.b))
                return pair
        return None

    def pick_tenant() -> str:
        if recipe.each_tenant_asks_all and any(own_pools.values()):
            return rng.choices(names, [len(own_pools[name]) for name in names])[0]
        return rng.choices(names, weights)[0]

    for n in range(recipe.n):
        tenant = pick_tenant()
        stream = rng.random() < recipe.stream_share
        draw = rng.random()
        common: dict[str, Any] = {"n": n, "tenant": tenant, "stream": stream}
        request: Request | None = None
        if draw < recipe.repeat_share and history[tenant]:
            earlier = rng.choice(history[tenant])
            request = Request(**common, kind="repeat", prompt=earlier.prompt, qid=earlier.qid,
                              scores=earlier.scores, answer_tokens=earlier.answer_tokens,
                              prompt_tokens=earlier.prompt_tokens, source=earlier.source, duplicate=True,
                              original=earlier.n)
        elif draw < recipe.repeat_share + recipe.paraphrase_share and open_pairs[tenant]:
            original, pair = open_pairs[tenant].pop(rng.randrange(len(open_pairs[tenant])))
            if pair.duplicate:
                qid, scores, source, tokens = original.qid, original.scores, original.source, original.answer_tokens
            else:
                qid, scores, source, tokens = f"{PAIR_QID_PREFIX}{original.n}/b", unrecorded, UNRECORDED, \
                    answer_tokens()
            request = Request(**common, kind="pair-b", prompt=pair.b, qid=qid, scores=scores, answer_tokens=tokens,
                              prompt_tokens=approx_tokens(pair.b), source=source, duplicate=pair.duplicate,
                              original=original.n)
        elif draw < recipe.repeat_share + 2 * recipe.paraphrase_share:
            new_pair = next_pair()
            if new_pair is not None:
                request = Request(**common, kind="pair-a", prompt=new_pair.a, qid=f"{PAIR_QID_PREFIX}{n}/a",
                                  scores=unrecorded, answer_tokens=answer_tokens(),
                                  prompt_tokens=approx_tokens(new_pair.a), source=UNRECORDED)
                open_pairs[tenant].append((request, new_pair))
        if request is None:
            outcome = next_fresh(tenant)
            request = Request(**common, kind="fresh", prompt=outcome.text, qid=outcome.id,
                              scores=tier_scores(outcome, recipe), answer_tokens=outcome_tokens(outcome),
                              prompt_tokens=approx_tokens(outcome.text), source=outcome.id)
        if request.kind != "repeat":
            history[tenant].append(request)
        requests.append(request)

    volumes = [1.0] * len(names) if recipe.each_tenant_asks_all else weights
    header = {
        "recipe": asdict(recipe),
        "tiers": DEFAULT_TIMINGS,
        "tenants": [asdict(Tenant(name=name, weight=round(weight, 4),
                                  budget_fraction=recipe.budget_fraction or None))
                    for name, weight in zip(names, volumes)],
        "held_out_prompts": len(pool),
        "counts": {kind: sum(r.kind == kind for r in requests) for kind in ("fresh", "repeat", "pair-a", "pair-b")},
    }
    return header, requests

