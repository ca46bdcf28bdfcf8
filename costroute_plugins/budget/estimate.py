"""The reservation amount: an upper bound of what a request can cost, known before it is sent."""

from __future__ import annotations

from costroute_plugins.spend.pricing import TokenRates

# OpenAI accepts n <= 128 (and best_of <= 20): an upstream refuses more, so reserving more would only hold the
# tenant's budget against its other requests.
MAX_ANSWERS = 128


def positive_int(value: object) -> int | None:
    """``value`` when it is a positive integer, else None: a client may send a string, a float, a bool or a
    mapping in any numeric field, and none of those bounds anything."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def answer_count(n: object = None, best_of: object = None) -> int:
    """How many completions a request is billed for: ``n`` answers, or the ``best_of`` candidates a legacy
    completion generates (and bills) server-side, whichever is more. Anything but a positive integer counts as 1
    (the upstream refuses the request); at most ``MAX_ANSWERS``."""
    return min(max(positive_int(n) or 1, positive_int(best_of) or 1), MAX_ANSWERS)


def estimate_cost_usd(prompt_tokens: int, max_tokens: object, rates: TokenRates, default_max_tokens: int, *,
                      answers: int = 1, max_reserved_tokens: int | None = None) -> float:
    """prompt tokens x input rate + max_tokens x answers x output rate.

    Using ``max_tokens`` (the most the model may generate per answer) makes the estimate an upper bound, so
    settling usually releases part of the reservation and the cap is never overshot by more than one request.
    The prompt is billed once however many ``answers`` (``answer_count``) come back. ``max_reserved_tokens``
    bounds what a client's ``max_tokens`` reserves: no model writes 10**30 tokens, and a reservation that large
    would only block the tenant's other requests. With an auto-router the tier is unknown before routing: pass
    the dearest tier's rates.
    """
    completion = positive_int(max_tokens) or default_max_tokens
    if max_reserved_tokens is not None:
        completion = min(completion, max_reserved_tokens)
    return (max(prompt_tokens, 0) * rates.input_usd_per_token
            + completion * max(answers, 1) * rates.output_usd_per_token)
