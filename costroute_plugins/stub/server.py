"""A stand-in for paid provider APIs, for tests, benchmarks and demos.

Real provider calls cost money and are not reachable from CI, so every test that needs a premium or balanced tier
talks to this server instead. It answers deterministically, and its behaviour is steered over HTTP so a test in
another process (pytest, a benchmark) can change it while the proxy keeps running:

- ``POST /_control`` with any of ``latency_ms``, ``fail_status``, ``fail_rate``, ``fail_times``,
  ``prompt_tokens``, ``completion_tokens``, ``answer`` (``null`` restores the default answer),
  ``number_answers`` and ``reset``.
- ``GET /_requests`` returns every request received (path, body, headers), ``DELETE /_requests`` clears.
- Every provider API a proxy route forwards to (``apis.py``): chat completions, completions, the Responses
  API, Anthropic's Messages API and embeddings, streamed or not.
- A request header ``x-stub-latency-ms`` / ``x-stub-fail-status`` overrides the setting for that one request.
- Outcomes mode (``--outcomes FILE``, see ``outcomes.py``): known prompts get this tier's recorded answer, with
  its token usage and the tier's latency (time to first token, then per token, spread over the stream).
- Grading prompts (a quality audit's judge calls) get a verdict, in every mode (``judge.py``); in outcomes mode
  an answer carrying a recorded outcome is graded by its recorded score.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from costroute_plugins.stub.apis import APIS, Answer
from costroute_plugins.stub.judge import judge_reply
from costroute_plugins.stub.outcomes import OutcomeBook, RecordedAnswer, qid_tag


@dataclass
class StubBehaviour:
    """What the stub does with the next requests; every field can be changed at run time via ``/_control``."""

    name: str = "stub"
    latency_ms: float = 0.0
    fail_status: int = 500
    fail_rate: float = 0.0
    fail_times: int = 0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    answer: str | None = None
    # As a judge: the rating given to an answer written by each tier (stub/judge.py); unset: the defaults.
    judge_ratings: dict[str, float] | None = None
    # Number the default answers (``answer #3 to: ...``): each call's answer differs, so a test sees which upstream
    # call a client's answer came from.
    number_answers: bool = False
    seed: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    _answered: int = 0

    def public(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}

    def default_answer(self, question: str) -> str:
        """``[<name>] answer to: <question>``, numbered from 1 with ``number_answers``."""
        if not self.number_answers:
            return f"[{self.name}] answer to: {question[:200]}"
        self._answered += 1
        return f"[{self.name}] answer #{self._answered} to: {question[:200]}"


def _approx_tokens(text: str) -> int:
    """Roughly four characters a token: enough for realistic usage figures without a tokenizer."""
    return max(1, len(text) // 4)


class StubUpstream:
    """The ASGI app plus its mutable behaviour and the log of received requests."""

    def __init__(self, behaviour: StubBehaviour, book: OutcomeBook | None = None) -> None:
        self.behaviour = behaviour
        self.book = book
        self.behaviour._rng.seed(behaviour.seed)
        self.received: list[dict[str, Any]] = []
        self.app = Starlette(
            routes=[
                *(Route(path, self.answer, methods=["POST"]) for path in APIS),
                Route("/v1/models", self.models, methods=["GET"]),
                Route("/health", self.health, methods=["GET"]),
                Route("/_control", self.control, methods=["POST", "GET"]),
                Route("/_requests", self.requests, methods=["GET", "DELETE"]),
            ]
        )

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "name": self.behaviour.name})

    async def models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": self.behaviour.name, "object": "model"}]})

    async def control(self, request: Request) -> Response:
        if request.method == "POST":
            changes = await request.json()
            if changes.pop("reset", False):
                fresh = StubBehaviour(name=self.behaviour.name, seed=self.behaviour.seed)
                fresh._rng.seed(fresh.seed)
                self.behaviour = fresh
            for key, value in changes.items():
                if key.startswith("_") or not hasattr(self.behaviour, key):
                    return JSONResponse({"error": f"unknown control field {key!r}"}, status_code=400)
                setattr(self.behaviour, key, value)
        return JSONResponse(self.behaviour.public())

    async def requests(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.received.clear()
        return JSONResponse(self.received)

    def _question_tag(self, question: str) -> str | None:
        """The qid tag of a question this stub has a recorded outcome for: lets the judge tell an answer to
        another question (a wrong cache hit) from a right one."""
        entry = self.book.prompts.get(question) if self.book is not None else None
        return qid_tag(str(entry["qid"])) if entry is not None else None

    def _should_fail(self, request: Request) -> int | None:
        override = request.headers.get("x-stub-fail-status")
        if override:
            return int(override)
        behaviour = self.behaviour
        if behaviour.fail_times > 0:
            behaviour.fail_times -= 1
            return behaviour.fail_status
        if behaviour.fail_rate > 0 and behaviour._rng.random() < behaviour.fail_rate:
            return behaviour.fail_status
        return None

    async def answer(self, request: Request) -> Response:
        """Any provider API's request: recorded, delayed or failed as told, answered in that API's shape."""
        api = APIS[request.url.path]
        body = await request.json()
        self.received.append({"path": request.url.path, "body": body, "headers": dict(request.headers),
                              "at": time.time()})
        latency_ms = float(request.headers.get("x-stub-latency-ms", self.behaviour.latency_ms))
        if latency_ms > 0:
            await asyncio.sleep(latency_ms / 1000)
        status = self._should_fail(request)
        if status is not None:
            error = {"error": {"message": f"stub {self.behaviour.name} failing on purpose", "type": "stub_error"}}
            return JSONResponse(error, status_code=status)

        last_user, prompt_text = api.prompt(body)
        recorded = self.book.answer(last_user) if self.book is not None else None
        verdict = judge_reply(prompt_text, self.behaviour.judge_ratings,
                              tag_of=self._question_tag if self.book is not None else None)
        if verdict is not None:
            text = verdict
        elif recorded is not None:
            text = recorded.text
        else:
            text = self.behaviour.answer or self.behaviour.default_answer(last_user)
        answer = Answer(
            text=text,
            prompt_tokens=self.behaviour.prompt_tokens or _approx_tokens(prompt_text),
            completion_tokens=self.behaviour.completion_tokens or (
                recorded.completion_tokens if recorded is not None else _approx_tokens(text)),
            model=str(body.get("model", self.behaviour.name)),
        )
        if body.get("stream"):
            return StreamingResponse(self._paced(api.stream(answer, body), answer, recorded),
                                     media_type="text/event-stream")
        if recorded is not None:
            await asyncio.sleep(recorded.timing.total_ms(answer.completion_tokens) / 1000)
        return JSONResponse(api.body(answer, body))

    async def _paced(self, events, answer: Answer, recorded: RecordedAnswer | None):
        """Recorded answers pace the stream like a real tier: the first token after ttft, the rest at its speed
        (slept every 16 events, not every word, so the pacing stays cheap)."""
        if recorded is None:
            for event in events:
                yield event
            return
        await asyncio.sleep(recorded.timing.ttft_ms / 1000)
        pause_s = recorded.timing.ms_per_token * answer.completion_tokens / 1000 / max(1, len(answer.words)) * 16
        for index, event in enumerate(events):
            if index and index % 16 == 0:
                await asyncio.sleep(pause_s)
            yield event
