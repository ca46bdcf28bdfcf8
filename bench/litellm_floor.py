"""What LiteLLM's own features cost per request, without costroute: the floor under costroute's CPU ratio.

costroute works through LiteLLM's extension points: its complexity router decides every ``auto`` request (one
more router hop inside LiteLLM), and costroute's parts are LiteLLM callbacks. Both cost LiteLLM CPU per request
whatever the plugin does. This bench runs, one after another on the same stub tiers and the same saturated
closed loop as ``make bench`` (40 users x 30 s, two replicas per fleet):

- ``vanilla``: ``bench/loadtest.py``'s, ``auto`` a plain alias of the premium tier;
- ``litellm-router``: ``auto`` through LiteLLM's complexity router with its own keyword heuristic (no costroute);
- ``litellm-router+6-callbacks``: the same plus six callbacks that do nothing (``bench/noop_callbacks.py``), as
  many as costroute registers;
- ``costroute``: every plugin on, as ``bench/loadtest.py`` runs it.

Printed: req/s and proxy CPU per request of each, and each as a ratio to vanilla's. The ratio of the third is
what any plugin pack that routes through LiteLLM's complexity router with six callbacks starts from.

    .venv/bin/python -m bench.litellm_floor [--clients 40] [--duration 30]
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench import PROXY_CONFIG, REPO
from bench.loadtest import costroute_config, drive, drop_run_data, summary, vanilla_config, with_probe
from bench.noop_callbacks import NAMES as NOOP_CALLBACKS
from costroute_plugins.harness.config_edits import (
    Document,
    callbacks_of,
    read_config,
    with_callbacks,
    with_team_keys,
    without_costroute,
    write_config,
)
from costroute_plugins.harness.proxy import start_proxy, start_stub, tier_env

#: LiteLLM's keyword heuristic's tiers onto costroute's tier names.
HEURISTIC_TIERS = {"SIMPLE": "cheap", "MEDIUM": "balanced", "COMPLEX": "premium", "REASONING": "premium"}


def litellm_router(noop_callbacks: bool) -> Document:
    """The shipped config less costroute, ``auto`` through LiteLLM's complexity router with its own heuristic."""
    shipped = read_config(PROXY_CONFIG)
    document = without_costroute(shipped, auto_as="premium")
    routed = copy.deepcopy(next(entry for entry in shipped["model_list"] if entry["model_name"] == "auto"))
    routed["litellm_params"]["complexity_router_config"] = {"classifier_type": "heuristic",
                                                            "tiers": HEURISTIC_TIERS}
    document["model_list"] = [entry for entry in document["model_list"] if entry["model_name"] != "auto"]
    document["model_list"].append(routed)
    if noop_callbacks:
        document = with_callbacks(document, [*callbacks_of(document), *NOOP_CALLBACKS])
    return with_probe(with_team_keys(document))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.litellm_floor", description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--duration", type=float, default=30.0)
    args = parser.parse_args(argv)
    prefix, schema = f"costroute-floor:{uuid.uuid4().hex[:8]}:", f"costroute_floor_{uuid.uuid4().hex[:8]}"
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        stubs = {tier: start_stub(tier, folder, latency_ms=200) for tier in ("cheap", "balanced", "premium")}
        env = {**tier_env(stubs), "PYTHONPATH": str(REPO), "COSTROUTE_LOOP_LAG_FILE": str(folder / "lag")}
        fleets = {
            "vanilla": lambda n: vanilla_config(folder),
            "litellm-router": lambda n: write_config(folder / "router.yaml", litellm_router(False)),
            "litellm-router+6-callbacks": lambda n: write_config(folder / "router-cb.yaml", litellm_router(True)),
            "costroute": lambda n: costroute_config(folder, prefix, schema, n),
        }
        try:
            for name, config in fleets.items():
                fleet = [start_proxy(config(n), folder, env=env) for n in range(2)]
                try:
                    for proxy in fleet:  # a fresh proxy's first requests are slow: keep them out of the figures
                        drive([proxy], 2, 3, seed=0)
                    answers, cpu = drive(fleet, args.clients, args.duration, 1)
                finally:
                    for proxy in fleet:
                        proxy.stop()
                results.append({**summary(name, answers, args.duration), **cpu})
                print(f"{name:>27}: {results[-1]['throughput_rps']} req/s, errors {results[-1]['error_rate']:.2%}, "
                      f"tiers {results[-1]['tier_shares']}, proxy CPU {cpu['proxy_cpu_ms_per_request']} ms/request",
                      flush=True)
        finally:
            for stub in stubs.values():
                stub.managed.stop()
            drop_run_data(prefix, schema)
    base = results[0]
    print(f"\nsaturated closed loop, {args.clients} users x {args.duration:.0f} s per fleet, two replicas each "
          f"({os.cpu_count()} cores):")
    for result in results:
        cpu, rate = result["proxy_cpu_ms_per_request"], result["throughput_rps"]
        ratio = f"{cpu / base['proxy_cpu_ms_per_request']:.2f}x" if cpu and base["proxy_cpu_ms_per_request"] else "?"
        print(f"  {result['fleet']:>27}: CPU/request {cpu} ms ({ratio} vanilla), throughput {rate} req/s "
              f"({rate / base['throughput_rps']:.0%} of vanilla)")
    return 0


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"done in {time.monotonic() - started:.0f} s")
    sys.exit(code)
