#!/usr/bin/env bash
# Is a vLLM worker ready to serve? Exit 0 when /health answers 200 and /v1/models lists a model.
#
#   vllm/healthcheck.sh http://127.0.0.1:8100      (the api_base with or without /v1)
#
# For container HEALTHCHECKs and load-balancer probes; the costroute proxy itself watches /metrics instead.
set -euo pipefail
base="${1:-http://127.0.0.1:8100}"
base="${base%/}"; base="${base%/v1}"
curl -fsS --max-time 5 "$base/health" >/dev/null || { echo "unhealthy: $base/health did not answer 200" >&2; exit 1; }
models="$(curl -fsS --max-time 5 "$base/v1/models")" || { echo "unhealthy: $base/v1/models failed" >&2; exit 1; }
grep -q '"id"' <<<"$models" || { echo "unhealthy: $base serves no model" >&2; exit 1; }
echo "healthy: $base"
