"""``costroute simulate-affinity``: project prefix-cache hit rates for N vLLM replicas from a workload file.

Uses the proxy's own policies and a model of vLLM's block LRU per replica (``simulator``), so operators can size
a replica pool before running it: e.g. ``--replicas 4,8,16,32,64`` on a sample of their traffic.
"""

from __future__ import annotations

import argparse
import json

from costroute_plugins.cli.errors import CliError
from costroute_plugins.vllm_affinity import workload
from costroute_plugins.vllm_affinity.blocks import load_tokenizer
from costroute_plugins.vllm_affinity.policy import make_policy
from costroute_plugins.vllm_affinity.simulator import simulate, to_sim_requests

POLICIES = ("round-robin", "affinity")


def _replica_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--replicas {text!r}: give a number or a list like 4,8,16") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("--replicas: each count must be >= 1")
    return counts


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Replay a workload (JSON lines with OpenAI 'messages' and optional 'max_tokens') "
                          "against N simulated vLLM replicas and print their prefix-cache hit rate.")
    parser.add_argument("--replicas", type=_replica_counts, help="N, or a list like 4,8,16,32,64")
    parser.add_argument("--workload", help="workload JSONL file (see --make-workload)")
    parser.add_argument("--policy", choices=POLICIES, action="append",
                        help="repeatable; default: both, with the affinity/round-robin hit-rate ratio")
    parser.add_argument("--block-size", type=int, default=128, help="worker KV block size in tokens "
                        "(vLLM: 128 on CPU, 16 by default on GPU)")
    parser.add_argument("--cache-blocks", type=int, default=4096, help="KV blocks per replica (vLLM logs it as "
                        "'# CPU blocks' / 'GPU KV cache size'; --num-gpu-blocks-override sets it)")
    parser.add_argument("--concurrency", type=int, default=1, help="clients sending in a closed loop")
    parser.add_argument("--tokenizer", help="the served model's folder or tokenizer.json; default: 4 chars/token")
    parser.add_argument("--chars-per-token", type=int, default=4)
    parser.add_argument("--load-slack", type=int, default=4, help="affinity's absolute load slack (requests)")
    parser.add_argument("--replica-names", help="comma-separated replica api_bases (one replica count only), so "
                        "the hash ring matches a real pool's; default replica-0..N-1")
    parser.add_argument("--load-factor", type=float, default=1.25, help="affinity's bounded-load factor")
    parser.add_argument("--output-tokens", type=int, default=None, help="override each request's max_tokens")
    parser.add_argument("--make-workload", metavar="FILE", help="write a synthetic workload to FILE and exit")
    parser.add_argument("--families", type=int, default=8, help="with --make-workload: shared system prompts")
    parser.add_argument("--requests", type=int, default=200, help="with --make-workload: requests")
    parser.add_argument("--system-words", type=int, default=700, help="with --make-workload: system prompt words")
    parser.add_argument("--arrival", choices=("rounds", "random"), default="rounds",
                        help="with --make-workload: steady per-application rates, or independent random picks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.make_workload:
        workload.write(args.make_workload, workload.synthetic(args.families, args.requests, args.system_words,
                                                               seed=args.seed, arrival=args.arrival))
        print(f"wrote {args.requests} requests over {args.families} shared system prompts to {args.make_workload}")
        return 0
    if not args.workload or not args.replicas:
        raise CliError("--replicas N and --workload FILE are required (or --make-workload FILE)")
    rows = list(workload.read(args.workload))  # a missing or malformed file: the CLI's one error path prints it
    tokenizer = load_tokenizer(args.tokenizer, args.chars_per_token)
    units = [tokenizer.units(row["messages"]) for row in rows]
    outputs = [args.output_tokens if args.output_tokens is not None else int(row.get("max_tokens", 16))
               for row in rows]
    requests = to_sim_requests(units, outputs, args.block_size)
    for replicas in args.replicas:
        results = {}
        for name in args.policy or POLICIES:
            policy = make_policy(name, load_factor=args.load_factor, load_slack=args.load_slack)
            names = args.replica_names.split(",") if args.replica_names else None
            results[name] = simulate(requests, policy, replicas, args.cache_blocks, args.block_size,
                                     args.concurrency, keys=names)
        for result in results.values():
            line = {**result.as_dict(), "tokenizer": tokenizer.name, "block_size": args.block_size,
                    "cache_blocks": args.cache_blocks, "concurrency": args.concurrency}
            if args.json:
                print(json.dumps(line))
            else:
                print(f"replicas={replicas:3d} {result.policy:12s} hit_rate={result.hit_rate:.3f} "
                      f"max/mean load={result.max_over_mean_load:.2f} requests/replica={result.per_replica_requests}")
        if len(results) == 2 and not args.json:
            base = results["round-robin"].hit_rate
            ratio = results["affinity"].hit_rate / base if base else float("inf")
            print(f"replicas={replicas:3d} affinity / round-robin hit rate: {ratio:.2f}x")
    return 0
