"""``costroute price-gpu``: per-token USD rates of a self-hosted GPU tier, to paste into the config.

LiteLLM reports $0 for self-hosted vLLM models; these rates make the cheap tier cost what it really costs.
"""

from __future__ import annotations

import argparse
import json
import sys

import httpx

from costroute_plugins.cli.errors import CliError
from costroute_plugins.spend.pricing import GpuPricing, gpu_token_rates
from costroute_plugins.spend.throughput import measure_tokens_per_second


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Per-token input/output USD rates of a self-hosted GPU: hourly cost = GPU $/h + power kW x $/kWh; "
        "output rate = hourly cost / (tokens/s x 3600 x utilization); input rate = output rate / prefill speedup."
    )
    parser.add_argument("--gpu-hourly-usd", type=float, required=True, help="rent or amortised cost per GPU hour")
    parser.add_argument("--power-w", type=float, required=True, help="average power draw in watts")
    parser.add_argument("--usd-per-kwh", type=float, required=True, help="electricity price")
    parser.add_argument("--utilization", type=float, required=True, help="share of hours the GPU serves, 0-1")
    throughput = parser.add_mutually_exclusive_group(required=True)
    throughput.add_argument("--tokens-per-second", type=float,
                            help="aggregate generated tokens per second at the served batch size")
    throughput.add_argument("--vllm-metrics", metavar="URL",
                            help="measure it instead from a serving vLLM worker's /metrics, e.g. "
                                 "http://127.0.0.1:8100/metrics (vllm:generation_tokens_total over --window-s)")
    parser.add_argument("--window-s", type=float, default=60.0,
                        help="how long to watch the worker with --vllm-metrics (60)")
    parser.add_argument("--prefill-speedup", type=float, default=10.0,
                        help="how many times faster prompt tokens are processed than generated (10)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the explanation")
    parser.set_defaults(func=run)


def explain(pricing: GpuPricing) -> str:
    rates = pricing.rates
    return "\n".join([
        (f"hourly cost   = {pricing.gpu_hourly_usd:g} $/h GPU + {pricing.power_w:g} W / 1000 x "
         f"{pricing.usd_per_kwh:g} $/kWh = {pricing.total_hourly_usd:.4f} $/h"),
        (f"tokens / hour = {pricing.tokens_per_second:g} tok/s x 3600 x {pricing.utilization:g} utilization = "
         f"{pricing.output_tokens_per_hour:,.0f}"),
        (f"output        = {pricing.total_hourly_usd:.4f} / {pricing.output_tokens_per_hour:,.0f} = "
         f"{rates.output_usd_per_token:.4e} $/token ({rates.output_usd_per_token * 1e6:.4f} $/M tokens)"),
        (f"input         = output / {pricing.prefill_speedup:g} prefill speedup = "
         f"{rates.input_usd_per_token:.4e} $/token ({rates.input_usd_per_token * 1e6:.4f} $/M tokens)"),
        "",
        "# paste under costroute.spend.self_hosted_prices.<model group>:",
        f"input_usd_per_token: {rates.input_usd_per_token:.6e}",
        f"output_usd_per_token: {rates.output_usd_per_token:.6e}",
    ])


def run(args: argparse.Namespace) -> int:
    try:
        tokens_per_second = args.tokens_per_second
        if args.vllm_metrics:
            tokens_per_second = measure_tokens_per_second(args.vllm_metrics, args.window_s)
            print(f"measured {tokens_per_second:.1f} generated tokens/s at {args.vllm_metrics} over "
                  f"{args.window_s:g} s", file=sys.stderr)
        pricing = gpu_token_rates(args.gpu_hourly_usd, args.power_w, args.usd_per_kwh, args.utilization,
                                  tokens_per_second, args.prefill_speedup)
    except httpx.HTTPError as error:  # impossible values raise ValueError: the CLI's one error path prints it
        raise CliError(f"cannot read {args.vllm_metrics}: {error}; check the worker's metrics URL") from error
    if args.json:
        print(json.dumps({
            "hourly_usd": pricing.total_hourly_usd, "energy_hourly_usd": pricing.energy_hourly_usd,
            "output_tokens_per_hour": pricing.output_tokens_per_hour,
            "input_usd_per_token": pricing.rates.input_usd_per_token,
            "output_usd_per_token": pricing.rates.output_usd_per_token,
        }, indent=2))
    else:
        print(explain(pricing))
    return 0
