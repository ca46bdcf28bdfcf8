"""Prompt -> chained block hashes, the key prefix affinity routes on.

vLLM's prefix cache stores KV blocks of ``block_size`` tokens, each keyed by the hash of its tokens chained to
the hash of the block before it, so block *i* can only hit when blocks 0..i-1 match too. Hashing the prompt the
same way gives one key per block whose equality across requests means "this much prefix is shared". Exact
agreement with the worker's token boundaries is not needed for routing (equal prefixes give equal keys either
way), but using the served model's tokenizer and chat template makes block counts match the worker's, which
keeps the simulator's projected hit rates honest.
"""

from __future__ import annotations

import hashlib
import json
import logging
from abc import ABC, abstractmethod
from array import array
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

log = logging.getLogger("costroute")

_SEED = b"costroute-prefix-v1"


def message_text(content: Any) -> str:
    """The text of an OpenAI message ``content``: a string, or the text parts of a content list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(part.get("text", "") for part in content if isinstance(part, Mapping))
    return str(content)


def render_plain(messages: Sequence[Mapping[str, Any]]) -> str:
    """A canonical rendering used when the model's chat template is unknown: role header, then content."""
    return "".join(f"<|{m.get('role', 'user')}|>\n{message_text(m.get('content'))}\n" for m in messages)


class PrefixTokenizer(ABC):
    """Turns chat messages into the unit sequence (token ids or text pieces) the blocks are cut from."""

    name: str

    @abstractmethod
    def units(self, messages: Sequence[Mapping[str, Any]]) -> Sequence[int] | Sequence[str]:
        """The prompt as the worker would see it, one element per token (or approximate token)."""


class CharApproxTokenizer(PrefixTokenizer):
    """No tokenizer at hand: every ``chars_per_token`` characters count as one token."""

    def __init__(self, chars_per_token: int = 4) -> None:
        if chars_per_token < 1:
            raise ValueError("chars_per_token must be >= 1")
        self.chars_per_token = chars_per_token
        self.name = f"chars/{chars_per_token}"

    def units(self, messages: Sequence[Mapping[str, Any]]) -> list[str]:
        text = render_plain(messages)
        step = self.chars_per_token
        return [text[i:i + step] for i in range(0, len(text), step)]


class HFTokenizer(PrefixTokenizer):
    """The served model's ``tokenizer.json`` (via the light ``tokenizers`` package) and, when its
    ``tokenizer_config.json`` has one, its chat template, so blocks line up with the worker's."""

    def __init__(self, model_dir: str | Path) -> None:
        from tokenizers import Tokenizer

        folder = Path(model_dir)
        path = folder / "tokenizer.json" if folder.is_dir() else folder
        self._tokenizer = Tokenizer.from_file(str(path))
        self.name = str(path)
        self._template = None
        self._specials: dict[str, str] = {}
        config_path = path.parent / "tokenizer_config.json"
        if config_path.exists():
            config = json.loads(config_path.read_text())
            template = config.get("chat_template")
            template_file = path.parent / "chat_template.jinja"
            if not isinstance(template, str) and template_file.exists():  # newer transformers save it apart
                template = template_file.read_text()
            if isinstance(template, str):
                from jinja2.sandbox import ImmutableSandboxedEnvironment

                self._template = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True).from_string(
                    template)
            for key in ("bos_token", "eos_token"):
                value = config.get(key)
                self._specials[key] = value.get("content", "") if isinstance(value, Mapping) else (value or "")

    def render(self, messages: Sequence[Mapping[str, Any]]) -> str:
        if self._template is not None:
            try:
                plain = [{"role": m.get("role", "user"), "content": message_text(m.get("content"))} for m in messages]
                return self._template.render(messages=plain, add_generation_prompt=True, **self._specials)
            except Exception as error:  # a template needing features we do not provide: stay consistent anyway
                log.debug("chat template failed (%s); using the plain rendering", error)
        return render_plain(messages)

    def units(self, messages: Sequence[Mapping[str, Any]]) -> list[int]:
        return self._tokenizer.encode(self.render(messages), add_special_tokens=False).ids


def block_hashes(units: Sequence[int] | Sequence[str], block_size: int) -> list[int]:
    """Chained 64-bit hashes of every FULL block; a trailing partial block is never cached, so never keyed."""
    hashes: list[int] = []
    parent = _SEED
    for start in range(0, len(units) - block_size + 1, block_size):
        chunk = units[start:start + block_size]
        # One kind per call: all strings (characters) or all integers (token ids).
        payload = "\x1f".join(cast("Sequence[str]", chunk)).encode() if chunk and isinstance(chunk[0], str) \
            else array("q", chunk).tobytes()
        digest = hashlib.blake2b(parent + payload, digest_size=8).digest()
        hashes.append(int.from_bytes(digest, "big"))
        parent = digest
    return hashes


def load_tokenizer(path: str | None, chars_per_token: int = 4) -> PrefixTokenizer:
    """The model's tokenizer when ``path`` names one that loads, else the character approximation (logged)."""
    if path:
        try:
            return HFTokenizer(path)
        except Exception as error:
            log.warning("vllm_affinity: cannot load tokenizer from %s (%s); using %d characters per token",
                        path, error, chars_per_token)
    return CharApproxTokenizer(chars_per_token)
