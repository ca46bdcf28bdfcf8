"""Cheap/premium model pairs, and the labelled examples outcome rows give under several of them.

Chat-domain data (Arena) grades many models per prompt, battles only two per row, and no single pair of models is
scored everywhere. Training on several pairs lets every row teach the router what it can: a row gives one example
per configured pair whose two models it scores, labelled as for one pair (``premium > cheap``), and a row scoring
no configured pair gives nothing instead of failing the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from costroute_plugins.routing.outcomes import Outcome, OutcomesError


@dataclass(frozen=True)
class ModelPair:
    """Two models as named in the outcomes' scores; the label is ``premium`` scoring above ``cheap``."""

    cheap: str
    premium: str

    @classmethod
    def parse(cls, spec: str) -> ModelPair:
        """``CHEAP=PREMIUM`` (the ``--pair`` spelling); model names never contain ``=`` in the data we read."""
        cheap, equals, premium = spec.partition("=")
        cheap, premium = cheap.strip(), premium.strip()
        if not equals or not cheap or not premium or "=" in premium:
            raise OutcomesError(f"model pair {spec!r} is not of the form CHEAP=PREMIUM")
        if cheap == premium:
            raise OutcomesError(f"model pair {spec!r} compares a model with itself")
        return cls(cheap, premium)

    def __str__(self) -> str:
        return f"{self.cheap}={self.premium}"

    def scores_both(self, row: Outcome) -> bool:
        return self.cheap in row.scores and self.premium in row.scores


def distinct_pairs(pairs: Sequence[ModelPair]) -> tuple[ModelPair, ...]:
    """The pairs in order, each once: a pair given twice must not double its rows' weight."""
    return tuple(dict.fromkeys(pairs))


def pair_examples(rows: Sequence[Outcome], pairs: Sequence[ModelPair], where: str) -> list[tuple[Outcome, int]]:
    """``(row, pair index)`` for every configured pair each row scores, row by row in file order.

    A file must give some example, so a misspelt model name still fails loudly, naming the models the file has;
    single rows that lack a score are skipped (Arena's judge gave no grade to a few answers, and battles score
    two models a row).
    """
    examples = [(row, index) for row in rows for index, pair in enumerate(pairs) if pair.scores_both(row)]
    if not examples:
        raise OutcomesError(f"{where}: no row scores both models of any pair ({', '.join(map(str, pairs))}); "
                            f"models in the data: {', '.join(_models(rows))}")
    return examples


def _models(rows: Sequence[Outcome]) -> list[str]:
    return sorted({name for row in rows for name in row.scores})
