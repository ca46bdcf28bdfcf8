"""The proxy config a replay runs: the operator's config with its tiers pointed at stub tiers and every plugin on.

Only what a replay must change is changed, and every change is listed in the report:
- each tier's deployments answer from a local stub serving that tier's recorded outcomes;
- the semantic cache and budgets are switched on where the config has them off (budgets: one daily cap per
  workload tenant, added to the config's own);
- state is kept in-process (``redis_url: null``): one proxy, a fresh cache and fresh budget counters per run,
  nothing left behind in a shared Redis;
- auth: ``sk-team-<tenant>`` keys authenticate as teams (``proxy/replay_auth.py``), a generated master key;
- a callback captures each request's spend-log payload (``proxy/replay_capture.py``); the spend ledger is switched off;
- the router's classifier timeout is raised to ``router_timeout_ms`` where it is lower: on a loaded replay
  machine LiteLLM would otherwise serve its fallback tier, and the replay would measure the fallback, not the
  router (the report still counts any fallback).
- asked for (``--audit-rate``, ``--loop``): quality audits on at that sample rate, graded by the top tier (its
  stub grades with the recorded scores, ``stub/judge.py``), and the quality loop on or off, so a replay
  measures what the loop does to cost and quality and what its audits cost.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from costroute_plugins.config import SECTION, parse_config
from costroute_plugins.harness.config_edits import (
    callbacks_of,
    classifier_timeouts,
    with_callbacks,
    with_classifier_timeout_at_least,
    with_master_key,
    with_team_keys,
    with_tiers_at,
)

#: Keys of this shape authenticate as the team named after the prefix (replays and tests only).
TEAM_KEY_PREFIX = "sk-team-"
#: Where the capture callback writes spend-log payloads, one JSON line each.
CAPTURE_ENV = "COSTROUTE_REPLAY_CAPTURE"
CAPTURE = "costroute_plugins.proxy.replay_capture.capture"


@dataclass
class DerivedConfig:
    document: dict[str, Any]
    tiers: list[str]
    changes: list[str] = field(default_factory=list)


def derive(document: Mapping[str, Any], stub_urls: Mapping[str, str], master_key: str,
           budgets: list[dict[str, Any]], router_timeout_ms: int | None = None, audit_rate: float | None = None,
           loop: bool | None = None) -> DerivedConfig:
    """``audit_rate`` / ``loop``: None keeps the config's quality settings (see ``audits_on``, ``loop_set``)."""
    doc = copy.deepcopy(dict(document))
    section = dict(doc.get(SECTION) or {})
    tiers = parse_config(section).tiers
    missing = [tier for tier in tiers if tier not in stub_urls]
    if missing:
        raise ValueError(f"no stub for tiers {missing}")
    pointed = sum(entry.get("model_name") in tiers for entry in doc.get("model_list") or [])
    doc = with_tiers_at(doc, {tier: stub_urls[tier] for tier in tiers}, "sk-replay-stub")
    changes = [f"{pointed} tier deployments ({', '.join(tiers)}) answer from stub tiers replaying outcomes"]
    if router_timeout_ms:
        changes.extend(f"{name}: classifier timeout {timeout} -> {router_timeout_ms} ms (measure the router, not "
                       "LiteLLM's fallback, on a loaded machine)"
                       for name, timeout in classifier_timeouts(doc) if timeout < router_timeout_ms)
        doc = with_classifier_timeout_at_least(doc, router_timeout_ms)

    changes.extend(cache_on(section))
    changes.extend(budgets_on(section, budgets))
    if audit_rate is not None:
        changes.extend(audits_on(section, audit_rate, tiers[-1]))
    if loop is not None:
        changes.extend(loop_set(section, loop))
    changes.extend(state_in_process(section))
    changes.extend(ledger_off(section))
    doc[SECTION] = section
    parse_config(section, source="replay config")  # the derived section must still be valid

    doc = with_team_keys(with_master_key(doc, master_key))
    changes.append("tenants authenticate as teams with keys sk-team-<tenant> (replay custom_auth)")
    doc = with_callbacks(doc, [*callbacks_of(doc), CAPTURE])
    return DerivedConfig(doc, tiers, changes)


def cache_on(section: dict[str, Any]) -> list[str]:
    """The semantic cache on and starting empty (no snapshot loaded). Edits ``section`` in place, as the
    functions below; each returns the changes to list."""
    cache = dict(section.get("cache") or {})
    serving = cache.get("mode", "on" if cache.get("enabled") else "off") in ("on", True)  # YAML: bare on is True
    change = [] if serving else ["semantic cache switched on (the config has it off or in shadow mode)"]
    cache.pop("enabled", None)  # `mode` replaces it; a leftover `enabled: false` would contradict `on`
    cache["mode"] = "on"
    cache.pop("snapshot_path", None)
    section["cache"] = cache
    return change


def budgets_on(section: dict[str, Any], budgets: list[dict[str, Any]]) -> list[str]:
    """Budgets on, with ``budgets`` (the workload's tenant caps) added to the config's own."""
    budget = dict(section.get("budget") or {})
    changes = ["budgets switched on (the config has them off)"] if budget.get("enabled") is False else []
    budget["enabled"] = True
    if budgets:
        budget["budgets"] = list(budget.get("budgets") or []) + budgets
        changes.append(f"{len(budgets)} daily tenant budgets from the workload added")
    section["budget"] = budget
    return changes


def state_in_process(section: dict[str, Any]) -> list[str]:
    """``redis_url: null``: a fresh cache and fresh budget counters per run, nothing left in a shared Redis."""
    changed = section.get("redis_url") is not None or "redis_url" not in section
    section["redis_url"] = None
    return ["state in-process (redis_url: null): fresh cache and budget counters, nothing shared"] if changed else []


def ledger_off(section: dict[str, Any]) -> list[str]:
    """The spend ledger off: the replay reads each request's cost from the captured spend-log payload."""
    spend = dict(section.get("spend") or {})
    if not (spend.get("ledger") or {}).get("enabled"):
        return []
    spend["ledger"] = {**spend["ledger"], "enabled": False}
    section["spend"] = spend
    return ["PostgreSQL spend ledger off (the replay reads costs from the spend-log payload)"]


def audits_on(section: dict[str, Any], rate: float, top_tier: str) -> list[str]:
    """Quality audits on at ``rate`` for routed answers and cache hits, graded by the top tier (in a replay its
    stub, grading with the recorded scores): what the loop needs as evidence, and what the report bills as audit
    spend. Edits ``section`` in place; returns the changes to list."""
    if not 0.0 < rate <= 1.0:
        raise ValueError(f"--audit-rate {rate!r} is not a share above 0; use e.g. 0.2 (1.0 audits every answer)")
    quality = dict(section.get("quality") or {})
    quality.update(enabled=True, routed_sample_rate=rate, cache_sample_rate=rate, judge=top_tier)
    section["quality"] = quality
    change = (f"quality audits on: routed and cache sample rate {rate:g}, judge {top_tier} (its stub grades "
              "with the recorded scores)")
    return [change]


def loop_set(section: dict[str, Any], on: bool) -> list[str]:
    """The quality loop on or off, its other settings as configured. On needs audits (its evidence): without
    them the change is refused here with the fix, not at the proxy's start."""
    quality = dict(section.get("quality") or {})
    if on and not (quality.get("enabled") and quality.get("routed_sample_rate") != 0):
        raise ValueError("--loop on needs quality audits of routed answers, and the config has none; "
                         "pass --audit-rate R (e.g. 0.2)")
    loop = dict(quality.get("loop") or {})
    was = bool(loop.get("enabled"))
    loop["enabled"] = on
    quality["loop"] = loop
    section["quality"] = quality
    state = "on" if on else "off"
    return [f"quality loop {state}" + ("" if was == on else f" (the config has it {'on' if was else 'off'})")]


def key_of(tenant: str) -> str:
    """The replay key that authenticates as ``tenant``."""
    return TEAM_KEY_PREFIX + tenant
