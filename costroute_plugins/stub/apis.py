"""The provider APIs the stub speaks, each as a small ``Api``: where its prompt is, and how an answer looks.

LiteLLM forwards each proxy route to whichever provider API the model's prefix implies: ``/chat/completions``
to chat completions, ``/v1/messages`` and ``/v1/responses`` on an ``openai/`` model to the Responses API, an
``anthropic/`` model to Anthropic's Messages API, ``/completions`` and ``/embeddings`` to their own. The stub
answers all of them in the provider's shape, streamed or not, so every route costroute touches is tested
through the real proxy without a paid provider.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Answer:
    """What the stub answers one request with, whatever the API's shape."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    model: str

    @property
    def words(self) -> list[str]:
        pieces = self.text.split(" ")
        return [piece if index == 0 else " " + piece for index, piece in enumerate(pieces)]


def _text(content: Any) -> str:
    """The text parts of a message's content, whichever API's part types it uses."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content
                        if isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text", None))
    return ""


def _last_user(messages: Any) -> str:
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text(message.get("content"))
    return ""


def _sse(data: Any, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n"


class Api:
    """One provider API: its prompt, its non-streamed body and its stream of server-sent events."""

    def prompt(self, body: dict[str, Any]) -> tuple[str, str]:
        """(the last user text, all prompt text); the first keys recorded answers, the second counts tokens."""
        raise NotImplementedError

    def body(self, answer: Answer, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def stream(self, answer: Answer, body: dict[str, Any]) -> Iterator[str]:
        raise NotImplementedError


class ChatCompletions(Api):
    def prompt(self, body):
        messages = body.get("messages") or []
        return _last_user(messages), " ".join(_text(m.get("content")) for m in messages if isinstance(m, dict))

    def body(self, answer, body):
        return {
            "id": f"chatcmpl-stub-{uuid.uuid4().hex[:16]}", "object": "chat.completion", "created": int(time.time()),
            "model": answer.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text},
                         "finish_reason": "stop"}],
            "usage": _openai_usage(answer),
        }

    def stream(self, answer, body):
        base = {"id": f"chatcmpl-stub-{uuid.uuid4().hex[:16]}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": answer.model}
        for index, piece in enumerate(answer.words):
            delta = {"content": piece} if index else {"role": "assistant", "content": piece}
            yield _sse({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        final = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        if (body.get("stream_options") or {}).get("include_usage"):
            final["usage"] = _openai_usage(answer)
        yield _sse(final)
        yield "data: [DONE]\n\n"


class Completions(Api):
    def prompt(self, body):
        prompt = body.get("prompt")
        text = prompt if isinstance(prompt, str) else " ".join(map(str, prompt or []))
        return text, text

    def body(self, answer, body):
        return {
            "id": f"cmpl-stub-{uuid.uuid4().hex[:16]}", "object": "text_completion", "created": int(time.time()),
            "model": answer.model,
            "choices": [{"index": 0, "text": answer.text, "finish_reason": "stop", "logprobs": None}],
            "usage": _openai_usage(answer),
        }

    def stream(self, answer, body):
        base = {"id": f"cmpl-stub-{uuid.uuid4().hex[:16]}", "object": "text_completion", "created": int(time.time()),
                "model": answer.model}
        for piece in answer.words:
            yield _sse({**base, "choices": [{"index": 0, "text": piece, "finish_reason": None, "logprobs": None}]})
        yield _sse({**base, "choices": [{"index": 0, "text": "", "finish_reason": "stop", "logprobs": None}],
                    "usage": _openai_usage(answer)})
        yield "data: [DONE]\n\n"


class Responses(Api):
    """OpenAI's Responses API (``/v1/responses``), where LiteLLM sends ``openai/`` models' ``/v1/messages`` too."""

    def prompt(self, body):
        items = body.get("input")
        if isinstance(items, str):
            return items, f"{body.get('instructions') or ''} {items}"
        items = items if isinstance(items, list) else []
        texts = [_text(item.get("content")) for item in items if isinstance(item, dict)]
        return _last_user(items), f"{body.get('instructions') or ''} {' '.join(texts)}"

    def _response(self, answer: Answer, status: str, text: str) -> dict[str, Any]:
        return {
            "id": f"resp_stub{uuid.uuid4().hex[:16]}", "object": "response", "created_at": int(time.time()),
            "status": status, "model": answer.model, "error": None, "incomplete_details": None,
            "output": [{"type": "message", "id": f"msg_stub{uuid.uuid4().hex[:12]}", "status": status,
                        "role": "assistant", "content": [{"type": "output_text", "text": text, "annotations": []}]}]
            if text else [],
            "usage": {"input_tokens": answer.prompt_tokens, "output_tokens": answer.completion_tokens,
                      "total_tokens": answer.prompt_tokens + answer.completion_tokens,
                      "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}},
        }

    def body(self, answer, body):
        return self._response(answer, "completed", answer.text)

    def stream(self, answer, body):
        done = self._response(answer, "completed", answer.text)
        item = done["output"][0]
        started = {**done, "status": "in_progress", "output": []}
        yield _sse({"type": "response.created", "response": started}, "response.created")
        yield _sse({"type": "response.output_item.added", "output_index": 0,
                    "item": {**item, "status": "in_progress", "content": []}}, "response.output_item.added")
        yield _sse({"type": "response.content_part.added", "item_id": item["id"], "output_index": 0,
                    "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}},
                   "response.content_part.added")
        for piece in answer.words:
            yield _sse({"type": "response.output_text.delta", "item_id": item["id"], "output_index": 0,
                        "content_index": 0, "delta": piece}, "response.output_text.delta")
        yield _sse({"type": "response.output_text.done", "item_id": item["id"], "output_index": 0,
                    "content_index": 0, "text": answer.text}, "response.output_text.done")
        yield _sse({"type": "response.content_part.done", "item_id": item["id"], "output_index": 0,
                    "content_index": 0, "part": item["content"][0]}, "response.content_part.done")
        yield _sse({"type": "response.output_item.done", "output_index": 0, "item": item},
                   "response.output_item.done")
        yield _sse({"type": "response.completed", "response": done}, "response.completed")


class AnthropicMessages(Api):
    """Anthropic's Messages API, where LiteLLM sends ``anthropic/`` models."""

    def prompt(self, body):
        messages = body.get("messages") or []
        system = body.get("system")
        texts = [_text(system)] + [_text(m.get("content")) for m in messages if isinstance(m, dict)]
        return _last_user(messages), " ".join(texts)

    def _usage(self, answer: Answer) -> dict[str, int]:
        return {"input_tokens": answer.prompt_tokens, "output_tokens": answer.completion_tokens}

    def body(self, answer, body):
        return {"id": f"msg_stub{uuid.uuid4().hex[:16]}", "type": "message", "role": "assistant",
                "model": answer.model, "content": [{"type": "text", "text": answer.text}],
                "stop_reason": "end_turn", "stop_sequence": None, "usage": self._usage(answer)}

    def stream(self, answer, body):
        message = {**self.body(answer, body), "content": [], "stop_reason": None,
                   "usage": {"input_tokens": answer.prompt_tokens, "output_tokens": 1}}
        yield _sse({"type": "message_start", "message": message}, "message_start")
        yield _sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                   "content_block_start")
        for piece in answer.words:
            yield _sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
                       "content_block_delta")
        yield _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        yield _sse({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": answer.completion_tokens}}, "message_delta")
        yield _sse({"type": "message_stop"}, "message_stop")


class Embeddings(Api):
    """Deterministic unit vectors from a hash of each input: the same text always gets the same vector."""

    DIMENSIONS = 8

    def _inputs(self, body: dict[str, Any]) -> list[str]:
        items = body.get("input")
        return [items] if isinstance(items, str) else [str(item) for item in items or []]

    def prompt(self, body):
        inputs = self._inputs(body)
        return (inputs[-1] if inputs else ""), " ".join(inputs)

    def body(self, answer, body):
        vectors = []
        for index, text in enumerate(self._inputs(body)):
            digest = hashlib.sha256(text.encode()).digest()[: self.DIMENSIONS]
            raw = [byte / 255.0 - 0.5 for byte in digest]
            norm = sum(x * x for x in raw) ** 0.5 or 1.0
            vectors.append({"object": "embedding", "index": index, "embedding": [x / norm for x in raw]})
        return {"object": "list", "data": vectors, "model": answer.model,
                "usage": {"prompt_tokens": answer.prompt_tokens, "total_tokens": answer.prompt_tokens}}

    def stream(self, answer, body):
        raise ValueError("embeddings do not stream")


def _openai_usage(answer: Answer) -> dict[str, int]:
    return {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens,
            "total_tokens": answer.prompt_tokens + answer.completion_tokens}


#: Every path the stub answers, with the API it speaks there (with and without the ``/v1`` prefix).
APIS: dict[str, Api] = {
    path: api
    for name, api in {"chat/completions": ChatCompletions(), "completions": Completions(),
                      "responses": Responses(), "messages": AnthropicMessages(), "embeddings": Embeddings()}.items()
    for path in (f"/v1/{name}", f"/{name}")
}
