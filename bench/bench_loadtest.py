"""Proxy cost per request against vanilla LiteLLM, in ``make bench``: a short saturated load test
(``bench/loadtest.py``: 40 users asking again the moment they are answered, 30 s per fleet, two replicas each).

Prints, for both fleets in the same run: req/s, p50/p99, proxy CPU per request, event-loop lag; for costroute's,
its time per stage (embedding, cache lookup and verify, classification, budget reservation, ledger write) and
the router decisions given up on. Ratios, not absolute times, are the figures to compare across machines. The
paced acceptance run (200 users x 120 s) is ``make loadtest``.
"""

from __future__ import annotations

from bench import loadtest


def main() -> None:
    loadtest.main(["--clients", "40", "--duration", "30", "--think-s", "0"])
