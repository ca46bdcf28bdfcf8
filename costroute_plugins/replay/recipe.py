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
it was trained or calibrated on. Per-tier quality: ``cheap`` = the cheap model's recorded score, ``premium`` =
the premium model's; ``balanced`` has no outcome data, so it scores ``cheap + balanced_gap x (premium - cheap)``:
it closes that share of the gap where the two differ. The default 0.8 is rounded down from public MMLU figures
of the configured models: gpt-4.1-mini 87.5 sits 86% of the way from Mixtral-8x7B (70.6) to gpt-4.1 (90.2).
Pair questions have no recorded outcomes, so each scores, per tier, the mean score of the held-out prompts: what a
tier is expected to score on a question nothing is known about. Their tier shares therefore cost what they cost on
average, and routing them shows no skill either way (the report gives their slice of the loss apart). Borrowing
one random row's 0/1 scores instead has the same expectation but adds a coin flip per pair question: a standard
deviation of 0.9 points on the quality loss of the default 1,000-request replay (seed 0), on a slice where no
routing decision is right or wrong for a reason.

Answer lengths: ``answer_tokens`` (default 150) times a per-row log-normal factor (sigma 0.5), the same for every
tier; prompt tokens are four characters a token. Budgets: each tenant gets a daily cap of ``budget_fraction`` (0.6) of
what its traffic would cost at always-premium (priced by the replay from the proxy config), action
``downgrade``: about 1.5 times what costroute is expected to spend, the headroom an operator gives a guard
rail; a tenant with heavier or harder traffic than usual runs into the soft limit late in the day.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass

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
    for model in (recipe.cheap_model, recipe.premium_model):
        if model not in outcome.scores:
            raise RecipeError(f"outcome {outcome.id} has no score for {model!r} (it has {sorted(outcome.scores)}); "
                              "pass --cheap-model / --premium-model")
    cheap, premium = outcome.scores[recipe.cheap_model], outcome.scores[recipe.premium_model]
    return {"cheap": cheap, "balanced": round(cheap + recipe.balanced_gap * (premium - cheap), 6), "premium": premium}


def mean_scores(rows: Sequence[Outcome], recipe: Recipe) -> dict[str, float]:
    """Per tier, the mean score over ``rows``: the expected score of a question without a recorded outcome."""
    per_row = [tier_scores(row, recipe) for row in rows]
    return {tier: round(sum(scores[tier] for scores in per_row) / len(per_row), 6) for tier in TIERS}


def held_out(outcomes: Sequence[Outcome], recipe: Recipe, rule: SplitRule) -> list[Outcome]:
    """Rows of the requested split, one per distinct prompt text, single-turn only (the stub keys on text)."""
    seen: set[str] = set()
    rows = []
    for row in outcomes:
        if recipe.split != "all" and rule.split_of(row.text) != recipe.split:
            continue
        if row.text and row.text not in seen and len(row.messages) == 1:
            seen.add(row.text)
            rows.append(row)
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

    history: dict[str, list[Request]] = {name: [] for name in names}
    open_pairs: dict[str, list[tuple[Request, Pair]]] = {name: [] for name in names}
    used_pair_texts: set[str] = set()
    requests: list[Request] = []
    fresh_index = 0

    def answer_tokens() -> dict[str, int]:
        length = max(8, round(recipe.answer_tokens * math.exp(rng.gauss(0.0, 0.5) - 0.125)))
        return {tier: length for tier in TIERS}

    unrecorded = mean_scores(pool, recipe)

    def next_fresh() -> Outcome:
        nonlocal fresh_index
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

    for n in range(recipe.n):
        tenant = rng.choices(names, weights)[0]
        stream = rng.random() < recipe.stream_share
        draw = rng.random()
        common = {"n": n, "tenant": tenant, "stream": stream}
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
            pair = next_pair()
            if pair is not None:
                request = Request(**common, kind="pair-a", prompt=pair.a, qid=f"{PAIR_QID_PREFIX}{n}/a",
                                  scores=unrecorded, answer_tokens=answer_tokens(),
                                  prompt_tokens=approx_tokens(pair.a), source=UNRECORDED)
                open_pairs[tenant].append((request, pair))
        if request is None:
            outcome = next_fresh()
            request = Request(**common, kind="fresh", prompt=outcome.text, qid=outcome.id,
                              scores=tier_scores(outcome, recipe), answer_tokens=answer_tokens(),
                              prompt_tokens=approx_tokens(outcome.text), source=outcome.id)
        if request.kind != "repeat":
            history[tenant].append(request)
        requests.append(request)

    header = {
        "recipe": asdict(recipe),
        "tiers": DEFAULT_TIMINGS,
        "tenants": [asdict(Tenant(name=name, weight=round(weight, 4),
                                  budget_fraction=recipe.budget_fraction or None))
                    for name, weight in zip(names, weights)],
        "counts": {kind: sum(r.kind == kind for r in requests) for kind in ("fresh", "repeat", "pair-a", "pair-b")},
    }
    return header, requests

