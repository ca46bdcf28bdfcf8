"""A bounded concurrent client loop against proxy replicas, for the fault tests and ``make loadtest``.

Each client thread sends requests round-robin over the replicas; when a replica does not answer at the
connection level (refused, reset, cut mid-stream) the same request goes to the next replica, as a load balancer
with health checks and retries would do. HTTP answers are never retried: a 4xx/5xx is what the user sees.
Everything a request got is kept in an ``Answer`` so tests can assert on statuses, headers, costs and ids.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

from costroute_plugins.replay.derive import key_of as team_key

TRANSPORT_ERRORS = (httpx.TransportError,)


@dataclass(frozen=True)
class Ask:
    """One chat request as a user sends it."""

    team: str
    text: str
    model: str = "auto"
    stream: bool = False
    max_tokens: int | None = None
    kind: str = "new"  # new | repeat | paraphrase | hard | capped: what the traffic mix meant it to be

    def body(self) -> dict:
        body: dict = {"model": self.model, "messages": [{"role": "user", "content": self.text}]}
        if self.stream:
            body["stream"] = True
        if self.max_tokens:
            body["max_tokens"] = self.max_tokens
        return body


@dataclass
class Answer:
    ask: Ask
    status: int  # 0 when no replica answered at all
    started: float
    finished: float
    replica: int
    attempts: int
    headers: dict[str, str] = field(default_factory=dict)
    content: str = ""
    error: str | None = None

    @property
    def latency_s(self) -> float:
        return self.finished - self.started

    @property
    def request_id(self) -> str | None:
        """costroute's own id for the request: the ledger's key (the client-chosen call id is not)."""
        return self.headers.get("x-costroute-request-id")

    @property
    def cost(self) -> float:
        return float(self.headers.get("x-litellm-response-cost") or 0.0)

    @property
    def tier(self) -> str | None:
        return self.headers.get("x-costroute-tier")

    @property
    def cache(self) -> str | None:
        return self.headers.get("x-costroute-cache")

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.content) and self.error is None


def _send(http: httpx.Client, url: str, api_key: str, ask: Ask) -> tuple[int, dict[str, str], str, str | None]:
    headers = {"Authorization": f"Bearer {api_key}"}
    if not ask.stream:
        response = http.post(f"{url}/v1/chat/completions", json=ask.body(), headers=headers)
        content, error = "", None
        if response.status_code == 200:
            content = response.json()["choices"][0]["message"]["content"] or ""
        else:
            error = response.text[:300]
        return response.status_code, dict(response.headers), content, error
    with http.stream("POST", f"{url}/v1/chat/completions", json=ask.body(), headers=headers) as response:
        if response.status_code != 200:
            return response.status_code, dict(response.headers), "", response.read().decode()[:300]
        pieces, done, error = [], False, None
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            data = line.removeprefix("data: ")
            if data == "[DONE]":
                done = True
                break
            chunk = json.loads(data)
            if "error" in chunk:
                error = json.dumps(chunk["error"])[:300]
                break
            for choice in chunk.get("choices") or []:
                pieces.append((choice.get("delta") or {}).get("content") or "")
        if not done and error is None:
            error = "stream ended without [DONE]"
        return 200, dict(response.headers), "".join(pieces), error


class Load:
    """``clients`` threads sending ``next_ask(n)`` until ``duration_s`` or ``max_requests`` is reached.

    With ``think_s`` 0 each client sends its next request as soon as the last one is answered (a closed loop:
    the load is whatever the proxies can serve). With ``think_s`` > 0 each client first waits a think time,
    drawn from an exponential distribution of that mean, before each request, as a user reads an answer before
    asking again; the waits of client ``i`` come from a generator seeded with ``(think_seed, i)``, so two runs
    with the same seed offer the same pacing. ``start()`` returns at once so the caller can break things
    meanwhile; ``join()`` returns the answers."""

    def __init__(self, urls: Sequence[str], next_ask: Callable[[int], Ask], *, clients: int = 24,
                 duration_s: float = 10.0, max_requests: int = 10_000, timeout_s: float = 60.0,
                 key_of: Callable[[str], str] = team_key, think_s: float = 0.0,
                 think_seed: int = 0) -> None:
        self.urls = list(urls)
        self.next_ask = next_ask
        self.clients = clients
        self.duration_s = duration_s
        self.max_requests = max_requests
        self.timeout_s = timeout_s
        self.key_of = key_of
        self.think_s = think_s
        self.think_seed = think_seed
        self.answers: list[Answer] = []
        self.started_at = 0.0
        self._count = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def _take(self) -> int | None:
        with self._lock:
            if self._count >= self.max_requests or time.monotonic() - self.started_at >= self.duration_s:
                return None
            self._count += 1
            return self._count - 1

    def pacing(self, client: int) -> random.Random:
        """Client ``client``'s think-time generator: the same in every run with this ``think_seed``."""
        return random.Random(self.think_seed * 1_000_003 + client)

    def _think(self, pacing: random.Random) -> None:
        """Wait one think time, cut short at the end of the run."""
        if self.think_s > 0:
            left = self.duration_s - (time.monotonic() - self.started_at)
            time.sleep(max(0.0, min(pacing.expovariate(1.0 / self.think_s), left)))

    def _client(self, offset: int) -> None:
        limits = httpx.Limits(max_connections=2, max_keepalive_connections=2)
        pacing = self.pacing(offset)
        with httpx.Client(timeout=self.timeout_s, limits=limits) as http:
            while True:
                self._think(pacing)
                if (number := self._take()) is None:
                    break
                answer = self.one(http, number, (number + offset) % len(self.urls))
                with self._lock:
                    self.answers.append(answer)

    def one(self, http: httpx.Client, number: int, first: int) -> Answer:
        ask = self.next_ask(number)
        started = time.monotonic()
        last_error = "no replica answered"
        attempts = 0
        for round_ in range(3):  # every replica, up to three times, as a load balancer keeps retrying
            for shift in range(len(self.urls)):
                replica = (first + shift) % len(self.urls)
                attempts += 1
                try:
                    status, headers, content, error = _send(http, self.urls[replica], self.key_of(ask.team), ask)
                except TRANSPORT_ERRORS as failure:
                    last_error = f"{type(failure).__name__}: {failure}"
                    continue
                return Answer(ask, status, started, time.monotonic(), replica, attempts, headers, content, error)
            time.sleep(0.2 * (round_ + 1))
        return Answer(ask, 0, started, time.monotonic(), -1, attempts, error=last_error)

    def start(self) -> Load:
        self.started_at = time.monotonic()
        self._threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(self.clients)]
        for thread in self._threads:
            thread.start()
        return self

    def join(self) -> list[Answer]:
        for thread in self._threads:
            thread.join(timeout=self.duration_s + self.timeout_s * 4 + 30)
        return sorted(self.answers, key=lambda answer: answer.started)


# -- a mixed traffic of users --------------------------------------------------------------------------------------
EASY = [
    "What is the capital of France?", "How many days are in a week?", "Translate 'thank you' into Spanish.",
    "What colour is the sky on a clear day?", "Name three primary colours.", "What is 12 times 12?",
    "Spell the word 'necessary'.", "Which planet is known as the red planet?", "Give me a synonym for happy.",
    "What is the boiling point of water in Celsius?",
]
PARAPHRASES = {
    "What is the capital of France?": "what's the capital city of France",
    "How many days are in a week?": "how many days does a week have",
    "Which planet is known as the red planet?": "which planet is called the red planet",
    "Name three primary colours.": "name 3 primary colours",
}
HARD = [
    ("Prove that there are infinitely many primes p such that p+2 is also prime, or explain rigorously why this "
     "remains open, then derive the asymptotic density predicted by the Hardy-Littlewood conjecture."),
    ("Design a lock-free multi-producer multi-consumer queue in C++ with memory-ordering arguments for every atomic "
     "operation, and prove linearizability."),
    ("Derive the Black-Scholes partial differential equation from first principles using Ito's lemma, then solve it "
     "for a European call with a continuous dividend yield."),
]


def mixed_traffic(teams: Sequence[str], seed: int = 7, stream_share: float = 0.25,
                  unique_prefix: str = "") -> Callable[[int], Ask]:
    """Users of several tenants: repeats of popular questions, paraphrases of them, new easy questions (each
    one unique), hard questions; a share of them streamed."""

    def ask(number: int) -> Ask:
        rng = random.Random(seed * 1_000_003 + number)
        team = teams[rng.randrange(len(teams))]
        stream = rng.random() < stream_share
        roll = rng.random()
        if roll < 0.35:
            return Ask(team, rng.choice(EASY), stream=stream, kind="repeat")
        if roll < 0.50:
            return Ask(team, PARAPHRASES[rng.choice(list(PARAPHRASES))], stream=stream, kind="paraphrase")
        if roll < 0.85:
            topic = rng.choice(EASY).rstrip("?.")
            return Ask(team, f"{unique_prefix}#{number}: in one line, {topic}?", stream=stream, kind="new")
        return Ask(team, f"{rng.choice(HARD)} (case {unique_prefix}{number})", stream=stream, kind="hard")

    return ask


def with_capped_tenant(base: Callable[[int], Ask], team: str, every: int = 5) -> Callable[[int], Ask]:
    """Every ``every``-th request comes from ``team`` asking premium with max_tokens, to exhaust its budget."""

    def ask(number: int) -> Ask:
        if number % every == 0:
            return Ask(team, f"Plan the quarter, request {number}", model="premium", max_tokens=1000, kind="capped")
        return base(number)

    return ask

