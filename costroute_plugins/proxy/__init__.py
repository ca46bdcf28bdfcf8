"""Thin adapters between LiteLLM's proxy and costroute's parts.

This package is the only code that imports LiteLLM: a LiteLLM upgrade touches it and nothing else. Register
the instances in ``plugins.py`` from a proxy config (see the README).

One request's life, in the order LiteLLM calls the hooks, and the piece of ``RequestState`` (``request.py``)
each one writes (w) or reads (r):

1. context, pre-call: builds the state from the authenticated key (identity, tenant, route, stream, call_id,
   tags, hints, a fresh request_id) and files it in the request metadata; w ``routing`` (mode ``explicit``)
   when the client named a tier itself.
2. budget, pre-call: r ``tenant``, ``identity``, ``tags``, ``request_id``; checks the budgets and reserves the
   estimated cost; w ``budget`` (level, relaxation, the reservation), w ``forced_tier`` (the cheapest tier) at
   a cap with action ``downgrade``; refuses the request at ``throttle`` (429) or ``block`` (403).
3. classifier (``model: auto`` only; LiteLLM's complexity router asks it, before choosing a deployment): r
   ``forced_tier``, ``tenant``, ``hints``, ``budget`` (relaxation), ``request_id`` (holdout draw), ``call_id``
   and ``stream`` (feedback); w ``routing`` (tier, reason, mode, score, loop_version). Precedence:
   ``routing/policy.py``.
4. affinity, deployment filter: picks the vLLM replica; r ``request_id`` (its in-flight count).
5. cache backend, lookup inside ``litellm.acompletion``: waits for an identical request already upstream
   (single-flight, ``cache_flights.py``), then looks up; w ``cache`` (hit / miss / bypass). A hit skips 6; in
   shadow mode a would-be hit (``shadow_hit``, with the cached answer for the quality audit) does not.
6. the upstream call (LiteLLM's fallbacks included), then the cache backend's store: w ``cache.stored``, and
   the flight ends so its followers look up.
7. context, post-call success (non-streamed answers): r ``routing``, ``call_id`` to make the answer rateable.
8. response headers (context, cache): r ``request_id``, ``routing.score`` (not in shadow), ``cache``.
9. success log events: spend attributes the cost (r ``tenant``, ``identity``, ``tags``, ``budget.label``) and
   settles the budget with ``take_reservation``; quality samples for audit (r ``route``, ``routing``,
   ``cache``, ``request_id``); context observes the tier's latency; cache ends the flight; affinity releases the replica.
10. on failure: failure log events end the flight and release the replica per attempt; the post-call failure
    hook (after fallbacks) releases the reservation (spend, ``take_reservation``) and ends the flight (cache).
    A stream the client drops before its first chunk gets neither event: the budget's stream hook releases it.

``take_reservation`` hands the reservation out once, so whichever of 9, 10 or the stream hook comes first
settles it and the others find nothing.
"""
