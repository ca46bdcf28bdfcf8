"""Sends a workload to the proxy as its tenants would: in arrival order, up to ``concurrency`` at a time.

Each request is a ``model: auto`` chat completion with the tenant's key, streamed or not as the workload says.
What comes back is kept for scoring: status, latency (and time to first token when streamed), the answer
text, why it stopped, usage, and the proxy's headers (``x-costroute-tier``, ``x-costroute-cache``,
``x-costroute-cache-reason``, ``x-litellm-response-cost``, ``x-litellm-call-id``, ``x-costroute-router-score``,
``x-costroute-cache-similarity``). When each request left and when its answer was complete are kept too: a
repeat sent before its first ask was answered cannot be served from the cache (``misses.py``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from costroute_plugins.replay.derive import key_of
from costroute_plugins.replay.workload import Request

HEADERS = ("x-costroute-tier", "x-costroute-cache", "x-costroute-cache-reason", "x-costroute-cache-similarity",
           "x-litellm-response-cost", "x-litellm-call-id", "x-costroute-router-score")


@dataclass
class ProxyReply:
    """What the proxy did with one request."""

    n: int
    status: int
    latency_s: float
    ttft_s: float | None = None
    text: str = ""
    usage: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    finish_reason: str | None = None  # the answer's own: "length" marks a truncated answer the cache refuses
    sent_s: float = 0.0  # seconds from the replay's start to sending the request

    @property
    def finished_s(self) -> float:
        """Seconds from the replay's start to the answer's last byte (the proxy stores it just after)."""
        return self.sent_s + self.latency_s


def _body(request: Request) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "auto", "messages": request.messages}
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


async def _send(client: httpx.AsyncClient, request: Request, origin: float) -> ProxyReply:
    """``origin``: the replay's start on the monotonic clock; the result's ``sent_s`` counts from it."""
    headers = {"Authorization": f"Bearer {key_of(request.tenant)}"}
    started = time.monotonic()
    sent = started - origin
    try:
        if not request.stream:
            response = await client.post("/v1/chat/completions", json=_body(request), headers=headers)
            latency = time.monotonic() - started
            kept = {name: response.headers[name] for name in HEADERS if name in response.headers}
            if response.status_code != 200:
                return ProxyReply(request.n, response.status_code, latency, headers=kept, error=response.text[:300],
                              sent_s=sent)
            data = response.json()
            choice = (data.get("choices") or [{}])[0]
            return ProxyReply(request.n, 200, latency, text=choice.get("message", {}).get("content") or "",
                          usage=data.get("usage") or {}, headers=kept, finish_reason=choice.get("finish_reason"),
                          sent_s=sent)
        async with client.stream("POST", "/v1/chat/completions", json=_body(request), headers=headers) as response:
            kept = {name: response.headers[name] for name in HEADERS if name in response.headers}
            if response.status_code != 200:
                await response.aread()
                return ProxyReply(request.n, response.status_code, time.monotonic() - started, headers=kept,
                              error=response.text[:300], sent_s=sent)
            pieces: list[str] = []
            usage: dict[str, Any] = {}
            ttft = None
            finish = None
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line.removeprefix("data: "))
                for choice in chunk.get("choices") or []:
                    content = (choice.get("delta") or {}).get("content")
                    if content:
                        ttft = ttft if ttft is not None else time.monotonic() - started
                        pieces.append(content)
                    finish = choice.get("finish_reason") or finish
                usage = chunk.get("usage") or usage
            return ProxyReply(request.n, 200, time.monotonic() - started, ttft, "".join(pieces), usage, kept,
                          finish_reason=finish, sent_s=sent)
    except (httpx.HTTPError, json.JSONDecodeError) as error:
        return ProxyReply(request.n, 0, time.monotonic() - started, error=f"{type(error).__name__}: {error}",
                      sent_s=sent)


async def send_all(base_url: str, requests: Sequence[Request], concurrency: int,
                   progress: bool = False) -> list[ProxyReply]:
    """Every request, dispatched in order with at most ``concurrency`` in flight; results in workload order."""
    semaphore = asyncio.Semaphore(concurrency)
    done = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    origin = time.monotonic()

    async with httpx.AsyncClient(base_url=base_url, timeout=300, limits=limits) as client:
        async def one(request: Request) -> ProxyReply:
            nonlocal done
            try:
                return await _send(client, request, origin)
            finally:
                semaphore.release()
                done += 1
                if progress and done % 100 == 0:
                    print(f"  {done}/{len(requests)} requests answered", flush=True)

        tasks = []
        for request in requests:
            await semaphore.acquire()  # arrival order: request k+1 leaves only once a slot is free
            tasks.append(asyncio.create_task(one(request)))
        return list(await asyncio.gather(*tasks))
