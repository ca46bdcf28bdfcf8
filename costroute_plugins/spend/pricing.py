"""What a token costs: provider rates, TCO rates of self-hosted GPU tiers, and prompt-cache discounts.

Self-hosted vLLM deployments report $0 spend through LiteLLM, which makes the cheap tier look free and every
routing saving look infinite. ``gpu_token_rates`` turns what the GPU really costs into per-token rates that
go in the config (``costroute price-gpu`` prints them), so the cheap tier is priced like any provider.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

SECONDS_PER_HOUR = 3600.0
WATTS_PER_KW = 1000.0


class TokenRates(BaseModel):
    """USD per token; ``cached_input_usd_per_token`` prices prompt tokens the provider served from its cache."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_usd_per_token: float = Field(ge=0)
    output_usd_per_token: float = Field(ge=0)
    cached_input_usd_per_token: float | None = Field(
        None, ge=0, description="unset: cached prompt tokens cost the full input rate"
    )

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float:
        """USD for one request; ``cached_tokens`` (part of ``prompt_tokens``) get the cached-input rate."""
        cached = min(max(cached_tokens, 0), prompt_tokens)
        cached_rate = self.input_usd_per_token if self.cached_input_usd_per_token is None \
            else self.cached_input_usd_per_token
        return ((prompt_tokens - cached) * self.input_usd_per_token + cached * cached_rate
                + completion_tokens * self.output_usd_per_token)


@dataclass(frozen=True)
class GpuPricing:
    """The inputs of ``gpu_token_rates`` and what they give, so the output can show its working."""

    gpu_hourly_usd: float
    power_w: float
    usd_per_kwh: float
    utilization: float
    tokens_per_second: float
    prefill_speedup: float
    energy_hourly_usd: float
    total_hourly_usd: float
    output_tokens_per_hour: float
    rates: TokenRates


def gpu_token_rates(
    gpu_hourly_usd: float,
    power_w: float,
    usd_per_kwh: float,
    utilization: float,
    tokens_per_second: float,
    prefill_speedup: float = 10.0,
) -> GpuPricing:
    """Per-token rates of a self-hosted GPU.

    hourly cost   = gpu_hourly_usd + power_w / 1000 * usd_per_kwh          (rent or amortisation, plus energy)
    tokens / hour = tokens_per_second * 3600 * utilization                  (generated tokens actually sold)
    output rate   = hourly cost / tokens per hour
    input rate    = output rate / prefill_speedup                           (prefill processes a prompt token
                                                                             ``prefill_speedup`` times faster
                                                                             than decode generates one)
    ``tokens_per_second`` is the aggregate decode throughput at the batch size served; ``utilization`` the share
    of paid hours the GPU is busy, so idle time is paid for by the tokens that are served.
    """
    for name, value in (("gpu_hourly_usd", gpu_hourly_usd), ("power_w", power_w), ("usd_per_kwh", usd_per_kwh)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0 (got {value})")
    if not 0 < utilization <= 1:
        raise ValueError(f"utilization must be in (0, 1] (got {utilization}); 0.5 means busy half of the time")
    if tokens_per_second <= 0 or prefill_speedup <= 0:
        raise ValueError("tokens_per_second and prefill_speedup must be > 0")
    energy = power_w / WATTS_PER_KW * usd_per_kwh
    total = gpu_hourly_usd + energy
    tokens_per_hour = tokens_per_second * SECONDS_PER_HOUR * utilization
    output_rate = total / tokens_per_hour
    rates = TokenRates(input_usd_per_token=output_rate / prefill_speedup, output_usd_per_token=output_rate)
    return GpuPricing(gpu_hourly_usd, power_w, usd_per_kwh, utilization, tokens_per_second, prefill_speedup,
                      energy, total, tokens_per_hour, rates)


class PriceBook:
    """The cost of one finished request: TCO rates for self-hosted models, LiteLLM's ``response_cost`` else."""

    def __init__(self, self_hosted: dict[str, TokenRates]) -> None:
        self._self_hosted = self_hosted

    def rates(self, *names: str | None) -> TokenRates | None:
        """Self-hosted rates of the first name configured (deployment model, then model group)."""
        return next((self._self_hosted[name] for name in names if name and name in self._self_hosted), None)

    def cost(self, names: tuple[str | None, ...], prompt_tokens: int, completion_tokens: int,
             cached_tokens: int, reported_usd: float | None) -> float:
        """Self-hosted: tokens x TCO rates (LiteLLM reports $0 for them). Otherwise LiteLLM's cost, which already
        applies the provider's prompt-cache discount where the provider reports cached tokens."""
        rates = self.rates(*names)
        if rates is not None:
            return rates.cost(prompt_tokens, completion_tokens, cached_tokens)
        return max(float(reported_usd or 0.0), 0.0)

    def routing_saving(self, reported_saving_usd: float | None, reported_cost_usd: float | None,
                       cost_usd: float) -> float:
        """Saving against premium with the served tier at its real cost. LiteLLM's ``autorouter_savings`` is
        premium cost minus *its* cost of the served tier, which is $0 for self-hosted models; adding the reported
        cost back gives the premium cost, from which the TCO cost is subtracted. No routing saving: 0."""
        if not reported_saving_usd or reported_saving_usd <= 0:
            return 0.0
        premium = reported_saving_usd + max(float(reported_cost_usd or 0.0), 0.0)
        return max(premium - cost_usd, 0.0)
