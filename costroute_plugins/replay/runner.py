"""One replay end to end: stub tiers, the real proxy from a derived config, the workload, the report.

Nothing here stands in for the proxy: requests go through LiteLLM with every costroute plugin loaded, and the
report's costs are the proxy's own. Only the paid providers are stubs, answering with recorded outcomes. The one
thing judged offline is what the proxy does not tell a client, whether an answer was admitted to the cache; it
is judged by the replayed config's own admission policy (``misses.py``).

With quality audits on (``--audit-rate``), the proxy audits answers after the client has them: the replay waits
for every sampled audit to finish, reads the proxy's own quality estimate and loop state from ``/metrics``
(``scrape.py``) before stopping it, nets the audits' spend out of the savings (``audit_report.py``), and sets
the best fixed policy in hindsight beside the live run (``sweep.py``).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from costroute_plugins.config import SECTION, CostrouteConfig, parse_config, read_document
from costroute_plugins.proxy.tier_prices import config_tier_rates
from costroute_plugins.quality.config import QualityConfig
from costroute_plugins.replay import scrape
from costroute_plugins.replay.audit_report import add_quality_loop, own_calls
from costroute_plugins.replay.client import ProxyReply, send_all
from costroute_plugins.replay.counterfactual import unconstrained_tiers
from costroute_plugins.replay.derive import CAPTURE_ENV, derive, key_of
from costroute_plugins.replay.misses import ask_of, reasked
from costroute_plugins.replay.processes import Child, new_master_key, start_proxy, start_stub
from costroute_plugins.replay.report import (
    WINDOW,
    Rates,
    Scored,
    build_report,
    cost_at,
    score_request,
    with_reask,
)
from costroute_plugins.replay.sweep import cases_from, sweep
from costroute_plugins.replay.workload import Request, Workload
from costroute_plugins.stub.outcomes import SCHEMA_VERSION, qid_tag

#: The key the replay reads the proxy's /metrics with (any key the replay's auth accepts; it spends nothing).
METRICS_KEY = key_of("costroute-replay")


@dataclass
class ReplayResult:
    report: dict[str, Any]
    scored: list[Scored]
    served: list[ProxyReply]


def tenant_budgets(workload: Workload, rates: Rates, premium: str) -> list[dict[str, Any]]:
    """Daily caps in USD: each tenant's ``budget_fraction`` of its requests' always-premium cost."""
    budgets = []
    for tenant in workload.tenants:
        if not tenant.budget_fraction:
            continue
        premium_usd = sum(cost_at(rates, premium, r) for r in workload.requests if r.tenant == tenant.name)
        if premium_usd > 0:
            budgets.append({"name": f"replay-{tenant.name}", "scope": "team", "match": tenant.name,
                            "period": "daily", "limit_usd": round(premium_usd * tenant.budget_fraction, 6),
                            "action": tenant.action})
    return budgets


def write_answers(workload: Workload, tiers: list[str], path: Path, latency_scale: float) -> None:
    """The stubs' answers file: each prompt's question, per-tier score and answer length; tier latencies."""
    missing = [tier for tier in tiers if tier not in workload.tiers]
    if missing:
        raise ValueError(f"the workload has no timings for tiers {missing} of the config")
    prompts: dict[str, dict[str, Any]] = {}
    for request in workload.requests:
        missing = [tier for tier in tiers if tier not in request.scores]
        if missing:
            raise ValueError(f"workload request {request.n} has no score for tiers {missing}")
        prompts.setdefault(request.prompt, {"qid": request.qid, "scores": dict(request.scores),
                                            "answer_tokens": dict(request.answer_tokens)})
    timings = {tier: {k: float(v) * latency_scale for k, v in workload.tiers[tier].items()} for tier in tiers}
    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION, "tiers": timings, "prompts": prompts}))


def _read_capture(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {str(row["call_id"]): row for row in rows if row.get("call_id")}


def _wait_for_capture(path: Path, expected: set[str], timeout: float = 15) -> dict[str, dict[str, Any]]:
    """Success callbacks run after the response is sent: give the last ones (``expected`` call ids) a moment to
    land."""
    deadline = time.monotonic() + timeout
    while True:
        rows = _read_capture(path)
        if expected <= rows.keys() or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def _wait_quiet(path: Path, quiet_s: float = 1.5, timeout: float = 15) -> None:
    """Until the capture stops growing: an audit's outcome is counted before its calls' payloads are logged."""
    deadline = time.monotonic() + timeout
    size, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = path.stat().st_size if path.exists() else 0
        if now != size:
            size, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        time.sleep(0.2)


def _readings(proxy: Child, audits_on: bool, capture: Path, wait_s: float) -> scrape.Readings | None:
    """The proxy's quality figures once its audits are done (at once when audits are off)."""
    def fetch() -> scrape.Readings | None:
        return scrape.read(proxy.url, METRICS_KEY)

    if not audits_on:
        return fetch()
    readings = scrape.settle(fetch, wait_s)
    _wait_quiet(capture)
    return fetch() or readings


def hindsight_sweep(config: CostrouteConfig, quality: QualityConfig, requests: list[Request], scored: list[Scored],
                    rates: Rates, tiers: list[str]) -> dict[str, Any] | None:
    """The best fixed policy in hindsight (``sweep.py``) over the shifts the loop may take; None when the router
    does not route (not enforce mode) or cannot be loaded here."""
    if config.routing.mode != "enforce":
        return None
    from costroute_plugins.routing.cli_common import second_opinions
    from costroute_plugins.routing.router import Router

    try:
        thresholds = Router.from_settings(config.routing, second_opinions()).thresholds
    except (OSError, ValueError) as error:  # the proxy loaded it; a failure here costs only the sweep
        return {"error": f"router not loaded ({type(error).__name__}: {error})"}
    loop = getattr(quality, "loop", None)
    lowest = -float(getattr(loop, "max_loosen", 0.0))
    highest = float(getattr(loop, "max_shift", 1.0))
    return sweep(cases_from(requests, scored, rates, tiers), tiers, thresholds, float(quality.target),
                 lowest=lowest, highest=highest)


def replay(workload: Workload, config_path: str | Path, *, concurrency: int = 8, latency_scale: float = 1.0,
           router_timeout_ms: int | None = 5000, work_dir: str | Path | None = None,
           progress: bool = False, audit_rate: float | None = None, loop: bool | None = None,
           window: int = WINDOW, audit_wait_s: float = 300) -> ReplayResult:
    """``audit_rate`` / ``loop``: quality audits and the loop as ``derive`` sets them (None: the config's);
    ``window``: requests per window of the report; ``audit_wait_s``: how long the last audits may take."""
    document = read_document(config_path)
    config = parse_config(document.get(SECTION), source=str(config_path))
    tiers, premium = list(config.tiers), config.tiers[-1]
    rates = config_tier_rates(document, tiers)
    folder = Path(work_dir or tempfile.mkdtemp(prefix="costroute-replay-"))
    folder.mkdir(parents=True, exist_ok=True)
    answers = folder / "answers.json"
    write_answers(workload, tiers, answers, latency_scale)
    capture = folder / "spend-payloads.jsonl"
    capture.unlink(missing_ok=True)
    budgets = tenant_budgets(workload, rates, premium)
    # A flag the config cannot take (e.g. --loop on without audits) fails here, before anything starts.
    derive(document, {tier: "http://127.0.0.1:9/v1" for tier in tiers}, "sk-check", budgets, router_timeout_ms,
           audit_rate, loop)

    children: list[Child] = []
    started = time.monotonic()
    try:
        stubs = {tier: start_stub(tier, answers, folder) for tier in tiers}
        children.extend(stubs.values())
        derived = derive(document, {tier: f"{stub.url}/v1" for tier, stub in stubs.items()}, new_master_key(),
                         budgets, router_timeout_ms, audit_rate, loop)
        quality = parse_config(derived.document[SECTION], source="replay config").quality
        derived_path = folder / "proxy_config.yaml"
        derived_path.write_text(yaml.safe_dump(derived.document, sort_keys=False))
        if progress:
            print(f"replay: {len(stubs)} stub tiers up; starting the LiteLLM proxy ({derived_path})", flush=True)
        proxy = start_proxy(derived_path, folder, {CAPTURE_ENV: str(capture)})
        children.append(proxy)
        startup_s = time.monotonic() - started
        if progress:
            print(f"replay: proxy ready in {startup_s:.0f} s; sending {len(workload.requests)} requests, "
                  f"{concurrency} at a time", flush=True)
        sent = time.monotonic()
        served = asyncio.run(send_all(proxy.url, workload.requests, concurrency, progress))
        replay_s = time.monotonic() - sent
        client_ids = {s.headers["x-litellm-call-id"] for s in served if "x-litellm-call-id" in s.headers}
        _wait_for_capture(capture, {s.headers["x-litellm-call-id"] for s in served
                                    if s.status == 200 and "x-litellm-call-id" in s.headers})
        if progress and quality.enabled:
            print("replay: waiting for the last quality audits", flush=True)
        readings = _readings(proxy, quality.enabled, capture, audit_wait_s)
        payloads = _read_capture(capture)
    finally:
        for child in reversed(children):
            child.stop()

    captured = {s.n: payloads.get(s.headers.get("x-litellm-call-id", "")) for s in served}
    touched, scores = [], {}
    for request, result in zip(workload.requests, served):
        row = captured[request.n] or {}
        state = str((row.get("costroute") or {}).get("costroute_budget_state") or "")
        hit = result.headers.get("x-costroute-cache") == "hit" or row.get("cache_hit")
        if result.status == 200 and not hit and state.startswith(("soft", "capped")):
            touched.append(request)
            score = (row.get("costroute") or {}).get("costroute_route_score")
            scores[request.n] = float(score) if score is not None else None
    unconstrained = unconstrained_tiers(config, touched, scores)
    qids = {qid_tag(request.qid): request.qid for request in workload.requests}
    scored = [score_request(request, result, captured[request.n], rates, premium, unconstrained, qids)
              for request, result in zip(workload.requests, served)]
    policy = parse_config(derived.document[SECTION], source=str(derived_path)).cache.admission_policy()
    asks = {request.n: ask_of(request, result, s.served_by == "cache", policy)
            for request, result, s in zip(workload.requests, served, scored)}
    reasks = reasked(workload.requests, asks)
    scored = [with_reask(s, reasks.get(s.n)) for s in scored]
    report = build_report(workload.requests, scored, rates, premium, unconstrained, window)
    loop_on = bool(getattr(getattr(quality, "loop", None), "enabled", False))
    add_quality_loop(report, own_calls(payloads, client_ids), readings, quality.enabled, loop_on)
    report["sweep"] = hindsight_sweep(config, quality, workload.requests, scored, rates, tiers)
    report["run"] = {
        "config": str(config_path), "derived_config": str(derived_path), "config_changes": derived.changes,
        "tiers": tiers, "rates_usd_per_token": {t: list(r) for t, r in rates.items()},
        "concurrency": concurrency, "latency_scale": latency_scale, "proxy_start_s": round(startup_s, 1),
        "replay_s": round(replay_s, 1), "recipe": workload.header.get("recipe"),
        "workload_counts": workload.header.get("counts"), "budgets": budgets,
        "audit_rate": audit_rate, "loop": loop_on, "quality_target": quality.target,
    }
    return ReplayResult(report, scored, served)
