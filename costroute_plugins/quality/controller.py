"""The closed loop's decisions: from the evidence since the last change, keep the shift, tighten or loosen.

Evidence (``LoopWindow``) is what every replica saw since the shift last changed, as sums that add across
replicas: how many routed requests were answered and how many of them below the top tier, and the judged
audits of those below-top answers (``KeyStats``: served and top-tier ratings). A window starts empty at each
change, because audits of answers routed under the old thresholds say nothing about the new ones.

The estimate of the routed traffic's share of top-tier quality is stratified: top-tier answers keep all of it,
below-top answers keep the audited ratio ``r`` (mean served rating over mean top-tier rating), so
``quality = 1 - f * (1 - r)`` with ``f`` the below-top share, counted exactly. The interval is ``r``'s
(delta method, ``estimate.KeyStats.relative``) carried through the same formula. It assumes the top tier's
answers to below-top prompts are rated like its answers overall: the audits rate the top tier only there.

Tightening is quick and model-based: with ``r`` measured, the below-top share that meets the target is
``f* = (1 - target) / (1 - r)``, so the shift grows by ``f - f*`` (at least ``step``, at most ``max_step``).
It errs safe: the prompts left below top are the ones the router rates easiest, whose ``r`` is higher. Loosening
is slow and needs proof: one ``step`` when the lower bound clears the target by ``margin``.

The cache's loop (``decide_cache``) works the same way on the semantic cache's similarity threshold against an
error bound the operator sets (the idea of vCache: a wrong-hit rate, learned online rather than a fixed
threshold): raised by ``similarity_step`` while the audited wrong-hit rate is above ``wrong_hit_target``,
lowered by half a step only when the rate's upper bound is under half the target.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from statistics import NormalDist
from typing import Any, Literal

from costroute_plugins.quality.config import LoopConfig
from costroute_plugins.quality.estimate import Estimate, KeyStats

Direction = Literal["tighten", "loosen"]
Z95 = NormalDist().inv_cdf(0.975)


@dataclass
class LoopWindow:
    """Evidence since the last change; every field is a sum (``add`` merges another replica's)."""

    routed: int = 0  # routed answers (fresh, not held out, not an explicit tier)
    below_top: int = 0  # of which served below the top tier
    audits: KeyStats = field(default_factory=KeyStats)  # judged audits of below-top answers

    def add(self, other: LoopWindow) -> None:
        self.routed += other.routed
        self.below_top += other.below_top
        self.audits.merge(other.audits)

    def flat(self) -> dict[str, float]:
        """Field -> number, for a Redis hash (``HINCRBYFLOAT`` each field)."""
        return {"routed": self.routed, "below_top": self.below_top,
                **{f"audits.{name}": value for name, value in asdict(self.audits).items()}}

    @classmethod
    def from_flat(cls, data: dict[str, Any]) -> LoopWindow:
        """The inverse of ``flat``; missing fields are 0 (a window nobody wrote to yet)."""
        def number(name: str) -> float:
            return float(data.get(name, 0) or 0)

        counts: dict[str, Any] = {f.name: (int(number(f"audits.{f.name}")) if f.type == "int" else
                                           number(f"audits.{f.name}")) for f in fields(KeyStats)}
        stats = KeyStats(**counts)
        return cls(int(number("routed")), int(number("below_top")), stats)

    @property
    def below_share(self) -> float:
        return self.below_top / self.routed if self.routed else 0.0

    def estimate(self, z: float = Z95) -> Estimate | None:
        """The routed traffic's share of top-tier quality, with its interval; None without two rated audits."""
        ratio = self.audits.relative(z)
        if ratio is None:
            return None
        share = self.below_share

        def keep(r: float) -> float:
            return 1.0 - share * (1.0 - r)

        return Estimate("relative", keep(ratio.value), keep(ratio.lower), keep(ratio.upper), ratio.count)


@dataclass(frozen=True)
class Change:
    """A decided move of the shift, with the evidence behind it (logged and kept in the change history)."""

    direction: Direction
    old_shift: float
    new_shift: float
    reason: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def decide(window: LoopWindow, shift: float, target: float, config: LoopConfig) -> Change | None:
    """The change the evidence calls for, or None (too few audits, or the estimate sits where it should).

    ``min_audits`` judged audits are needed, except to tighten when half as many already put even the
    estimate's upper bound under the target: audits are scarce (their spend is capped by the day's savings),
    and a clear miss should not wait for a full window while users get the worse answers."""
    rated = window.audits.rated
    early = max(4, config.min_audits // 2)
    if rated < early:
        return None
    estimate = window.estimate()
    if estimate is None or (rated < config.min_audits and not estimate.upper < target):
        return None
    evidence = (f"estimate {estimate.value:.3f} [{estimate.lower:.3f}, {estimate.upper:.3f}] over "
                f"{estimate.count} audits, {window.below_top} of {window.routed} routed answers below the top tier")
    if estimate.value < target:
        if shift >= config.max_shift:
            return None
        ratio = window.audits.served_sum / window.audits.reference_sum
        needed = (1.0 - target) / (1.0 - ratio) if ratio < 1.0 else 1.0
        move = min(max(window.below_share - needed, config.step), config.max_step)
        new = min(shift + move, config.max_shift)
        return Change("tighten", shift, new, f"{evidence} < target {target:.3f}")
    if estimate.lower >= target + config.margin and shift > -config.max_loosen:
        new = max(shift - config.step, -config.max_loosen)
        return Change("loosen", shift, new, f"{evidence}: lower bound >= target {target:.3f} + margin "
                                            f"{config.margin:.3f}")
    return None


def decide_cache(window: LoopWindow, raised: float, config: LoopConfig) -> Change | None:
    """The move of the cache's similarity threshold (``raised`` above the configured one) the audited cache
    hits call for, or None."""
    if window.audits.hit_checks < config.min_audits:
        return None
    rate = window.audits.wrong_hit_rate(Z95)
    if rate is None:
        return None
    evidence = (f"wrong-hit rate {rate.value:.3f} [{rate.lower:.3f}, {rate.upper:.3f}] over {rate.count} "
                f"audited semantic hits")
    if rate.value > config.wrong_hit_target and raised < 1.0:
        return Change("tighten", raised, min(raised + config.similarity_step, 1.0),
                      f"{evidence} > target {config.wrong_hit_target:.3f}")
    if rate.upper < config.wrong_hit_target / 2 and raised > 0.0:
        return Change("loosen", raised, max(raised - config.similarity_step / 2, 0.0),
                      f"{evidence}: upper bound < half the target {config.wrong_hit_target:.3f}")
    return None
