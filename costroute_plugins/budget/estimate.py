"""The reservation amount: an upper bound of what a request can cost, known before it is sent."""

from __future__ import annotations

from costroute_plugins.spend.pricing import TokenRates


def estimate_cost_usd(prompt_tokens: int, max_tokens: int | None, rates: TokenRates, default_max_tokens: int) -> float:
    """prompt tokens x input rate + max_tokens x output rate.

    Using ``max_tokens`` (the most the model may generate) makes the estimate an upper bound, so settling
    usually releases part of the reservation and the cap is never overshot by more than one request.
    With ``model: auto`` the tier is unknown before routing: pass the dearest tier's rates.
    """
    # Whatever the client sent as max_tokens (a string, a mapping): only a positive integer bounds the answer.
    bounded = isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens > 0
    completion = max_tokens if bounded else default_max_tokens
    return max(prompt_tokens, 0) * rates.input_usd_per_token + completion * rates.output_usd_per_token
