"""A replay workload: which prompts arrive, from which tenant, streamed or not, and how to score each answer.

A workload file is JSON lines: a header object first (``"costroute_workload": 1``: recipe, tiers' latency,
tenants and their budgets), then one row per request in arrival order. Each row carries everything the replay
needs to score whatever answer comes back, including one served from the cache for another prompt:

- ``qid``: the question the prompt asks. Exact repeats share it; a pair's ``b`` shares its ``a``'s qid only when
  the pair is labelled duplicate. An answer is right for a request only when its qid is the request's qid.
- ``scores``: how well each tier answers this qid (0..1), ``answer_tokens``: how long each tier's answer is.
- ``prompt_tokens``: the prompt's size, the same estimate the stub reports (four characters a token).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Kind = Literal["fresh", "repeat", "pair-a", "pair-b"]
FORMAT_VERSION = 1


class WorkloadError(ValueError):
    """A workload file is malformed; the message names the file and line."""


@dataclass(frozen=True)
class Tenant:
    """A tenant (LiteLLM team) sending traffic, and its daily budget as a share of what its requests would cost
    at always-premium (None: unlimited); the replay turns it into USD with the proxy config's prices."""

    name: str
    weight: float
    budget_fraction: float | None = None
    action: str = "downgrade"


@dataclass(frozen=True)
class Request:
    """One request of the workload and what answering it well means."""

    n: int
    tenant: str
    kind: Kind
    stream: bool
    prompt: str
    qid: str
    scores: Mapping[str, float]
    answer_tokens: Mapping[str, int]
    prompt_tokens: int
    source: str
    duplicate: bool | None = None
    original: int | None = None

    @property
    def messages(self) -> list[dict[str, str]]:
        return [{"role": "user", "content": self.prompt}]


@dataclass
class Workload:
    header: dict[str, Any]
    requests: list[Request] = field(default_factory=list)

    @property
    def tenants(self) -> list[Tenant]:
        return [Tenant(**tenant) for tenant in self.header.get("tenants", [])]

    @property
    def tiers(self) -> dict[str, dict[str, float]]:
        """Tier name -> ``{"ttft_ms", "ms_per_token"}``, cheapest first."""
        return dict(self.header["tiers"])


#: Question ids of pair questions (``recipe.py``): their per-tier scores are not recorded for their own text.
PAIR_QID_PREFIX = "pair/"


def has_recorded_outcome(request: Request) -> bool:
    """Whether the request's scores were recorded for its own prompt (an outcome row, or a repeat of one)."""
    return not request.qid.startswith(PAIR_QID_PREFIX)


def approx_tokens(text: str) -> int:
    """Four characters a token, exactly as the stub counts prompt tokens, so the replay prices them alike."""
    return max(1, len(text) // 4)


def write_workload(path: str | os.PathLike[str], header: Mapping[str, Any], requests: Iterable[Request]) -> int:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(json.dumps({"costroute_workload": FORMAT_VERSION, **header}, ensure_ascii=False) + "\n")
        for request in requests:
            row = {k: v for k, v in asdict(request).items() if v is not None}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def read_workload(path: str | os.PathLike[str]) -> Workload:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise WorkloadError(f"{path}: cannot read the workload ({error})") from None
    if not lines:
        raise WorkloadError(f"{path}: empty; build one with `costroute make-workload`")
    try:
        header = json.loads(lines[0])
    except json.JSONDecodeError:
        raise WorkloadError(f"{path}:1: not JSON; expected the workload header") from None
    if header.get("costroute_workload") != FORMAT_VERSION:
        raise WorkloadError(f"{path}:1: not a costroute workload (version {FORMAT_VERSION} header missing); "
                            "build one with `costroute make-workload`")
    workload = Workload(header)
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            workload.requests.append(Request(**json.loads(line)))
        except (json.JSONDecodeError, TypeError) as error:
            raise WorkloadError(f"{path}:{number}: not a workload row ({error})") from None
    if not workload.requests:
        raise WorkloadError(f"{path}: header but no requests")
    return workload
