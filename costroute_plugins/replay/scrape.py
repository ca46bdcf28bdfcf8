"""What the proxy says about its own quality, read from its ``/metrics`` before the replay stops it.

The replay knows the true quality (recorded scores); the proxy only knows what its audits estimate. Reading the
proxy's own figures at the end of the run puts the two side by side: ``costroute_quality_overall`` (the routed
traffic's estimated share of top-tier quality, with its interval and audit count), the quality loop's shift and
its changes, and the audits by outcome and their spend. A series the proxy does not publish (an older build, or
audits off) reads as None, never as an error: the report then says null.

Audits run after the client has its answer, so the last ones are still in flight when the workload is done;
``settle`` waits until every sampled audit has an outcome, so their spend is in the capture and their verdicts
in the estimate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

OVERALL = "costroute_quality_overall"
SHIFT = "costroute_quality_loop_shift"
CHANGES = "costroute_quality_loop_changes_total"
AUDITS = "costroute_quality_audits_total"
AUDIT_SPEND = "costroute_quality_audit_spend_usd_total"
SAMPLING = "costroute_quality_sampling_total"


@dataclass(frozen=True)
class Readings:
    """The proxy's quality series at one moment; None where it publishes nothing."""

    overall: dict[str, float] | None = None  # value, lower, upper, count
    loop_shift: float | None = None
    loop_changes: dict[str, float] | None = None  # tighten, loosen
    audits: dict[str, float] = field(default_factory=dict)  # outcome -> count, both kinds together
    audit_spend_usd: float | None = None
    sampled: float = 0.0  # answers the sampler picked for an audit

    @property
    def audits_done(self) -> float:
        """Sampled audits that reached an outcome (judged, capped, busy, failed, ...)."""
        return sum(self.audits.values())

    def to_json(self) -> dict[str, Any]:
        return {"overall": self.overall, "loop_shift": self.loop_shift, "loop_changes": self.loop_changes,
                "audits": self.audits, "audit_spend_usd": self.audit_spend_usd, "sampled": self.sampled}


def parse(text: str) -> Readings:
    """The quality series of a Prometheus exposition (the rest is ignored)."""
    overall: dict[str, float] = {}
    changes: dict[str, float] = {}
    audits: dict[str, float] = {}
    shift = spend = None
    sampled = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, float(sample.value)
            if name == OVERALL and "bound" in labels:
                overall[labels["bound"]] = value
            elif name == SHIFT:
                shift = value
            elif name == CHANGES and "direction" in labels:
                changes[labels["direction"]] = value
            elif name == AUDITS and "outcome" in labels:
                audits[labels["outcome"]] = audits.get(labels["outcome"], 0.0) + value
            elif name == AUDIT_SPEND:
                spend = value
            elif name == SAMPLING and labels.get("reason") == "sampled":
                sampled += value
    return Readings(overall=overall or None, loop_shift=shift,
                    loop_changes=changes or ({"tighten": 0.0, "loosen": 0.0} if shift is not None else None),
                    audits=audits, audit_spend_usd=spend, sampled=sampled)


def read(base_url: str, api_key: str, timeout: float = 10) -> Readings | None:
    """The proxy's readings now; None when ``/metrics`` does not answer (the report says null)."""
    try:
        response = httpx.get(f"{base_url}/metrics/", headers={"Authorization": f"Bearer {api_key}"},
                             follow_redirects=True, timeout=timeout)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    try:
        return parse(response.text)
    except ValueError:  # not an exposition this parser reads: no figures rather than a failed replay
        return None


def settle(fetch: Callable[[], Readings | None], timeout: float, poll_s: float = 0.5) -> Readings | None:
    """Poll until every sampled audit has an outcome (or ``timeout`` seconds pass); the last readings."""
    deadline = time.monotonic() + timeout
    while True:
        readings = fetch()
        if readings is None or readings.audits_done >= readings.sampled or time.monotonic() > deadline:
            return readings
        time.sleep(poll_s)
