"""Decode throughput of a running vLLM worker, measured from its Prometheus ``/metrics``, for ``price-gpu``.

A self-hosted tier's per-token price depends on how many tokens the GPU really generates at the batch size it is
served with; a spec-sheet figure overstates it. vLLM counts generated tokens in ``vllm:generation_tokens_total``;
two reads ``window_s`` apart under real traffic give the aggregate tokens per second.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

GENERATED = "vllm:generation_tokens_total"


def generated_tokens(metrics_text: str) -> float:
    """Tokens generated so far, summed over engines and models; an error when the page has no such counter."""
    samples = [sample.value for family in text_string_to_metric_families(metrics_text)
               for sample in family.samples if sample.name == GENERATED]
    if not samples:
        raise ValueError(f"no {GENERATED} on this page: is it a vLLM worker's /metrics?")
    return sum(samples)


def measure_tokens_per_second(url: str, window_s: float, sleep: Callable[[float], None] = time.sleep) -> float:
    """Generated tokens per second over ``window_s`` seconds of whatever traffic the worker is serving."""

    def read() -> tuple[float, float]:
        response = httpx.get(url, timeout=10)
        response.raise_for_status()
        return time.monotonic(), generated_tokens(response.text)

    started, before = read()
    sleep(window_s)
    ended, after = read()
    if after <= before:
        raise ValueError(f"{url}: no tokens generated in {window_s:g} s; measure while the worker serves "
                         "representative traffic, or pass --tokens-per-second")
    return (after - before) / (ended - started)
