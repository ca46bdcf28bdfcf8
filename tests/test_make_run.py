"""`make run` on a machine with no provider key: the proxy answers `model: auto` with text from a real engine.

This starts what `make run` starts (`costroute serve`): a real vLLM worker on CPU serving SmolLM2-135M-Instruct
and the LiteLLM proxy in front of it, on free ports with a private state folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.harness import REPO, free_port, spawn, wait_until

pytestmark = pytest.mark.slow

VLLM_PYTHON = REPO / "vllm" / ".venv" / "bin" / "python"
MODEL = REPO / "vllm" / "models" / "smollm2-135m-instruct" / "config.json"
KEYS = ("OPENAI_API_KEY", "LITELLM_MASTER_KEY", "COSTROUTE_CHEAP_API_BASE", "COSTROUTE_CONFIG")


@pytest.fixture(scope="module")
def dev_proxy(tmp_path_factory: pytest.TempPathFactory):
    if not (VLLM_PYTHON.exists() and MODEL.exists()):
        pytest.fail("the local engine is not installed: run `make vllm-install vllm-model` (make test does)")
    state = tmp_path_factory.mktemp("serve-state")
    port, local_port = free_port(), free_port()
    keyless = {name: value for name, value in os.environ.items() if name not in KEYS}
    serve = spawn(
        [str(Path(sys.executable).parent / "costroute"), "serve", "--port", str(port),
         "--local-port", str(local_port), "--state-dir", str(state)],
        state / "serve.log", env=keyless, inherit_env=False,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{url}/health/liveliness", timeout=2).status_code == 200, 900,
                   "costroute serve", serve.process, serve.log_path)
        yield url, (state / "master_key").read_text().strip(), serve
    finally:
        serve.stop(timeout=60)


def test_auto_request_gets_a_real_generated_answer_without_any_api_key(dev_proxy):
    url, key, _serve = dev_proxy

    response = httpx.post(
        f"{url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}, timeout=120,
        json={"model": "auto", "messages": [{"role": "user", "content": "What is the capital of France?"}],
              "max_tokens": 48},
    )

    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"].strip()
    assert response.json()["usage"]["completion_tokens"] > 0
    assert response.headers["x-costroute-tier"] in ("cheap", "balanced", "premium")


def test_start_up_log_says_which_tiers_are_served_locally_and_how_long_it_took(dev_proxy):
    url, _key, serve = dev_proxy

    log = serve.log()

    assert "tier premium: OPENAI_API_KEY is not set -> served locally by hosted_vllm/smollm2-135m-instruct" in log
    assert "vLLM worker ready at" in log
    assert f"ready: {url}" in log


def test_premium_request_is_served_locally_too(dev_proxy):
    url, key, _serve = dev_proxy

    response = httpx.post(
        f"{url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}, timeout=120,
        json={"model": "premium", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16},
    )

    assert response.status_code == 200 and response.json()["choices"][0]["message"]["content"].strip()


def test_report_rows_shows_the_requests_just_served_without_postgresql(dev_proxy):
    url, key, serve = dev_proxy
    ledger = serve.log_path.parent / "spend.jsonl"  # the state folder: make run's .costroute/spend.jsonl
    served = []

    for question in ("Name a prime number.", "Name a colour of the rainbow."):
        response = httpx.post(
            f"{url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}, timeout=120,
            json={"model": "auto", "messages": [{"role": "user", "content": question}], "max_tokens": 16},
        )
        assert response.status_code == 200, response.text
        served.append(response.headers["x-costroute-request-id"])
    wait_until(lambda: ledger.exists() and all(request in ledger.read_text() for request in served), 60,
               "ledger rows of both requests", serve.process, serve.log_path)
    report = subprocess.run([str(Path(sys.executable).parent / "costroute"), "report", "--rows", str(ledger),
                             "--by", "tier", "--json"], capture_output=True, text=True, timeout=120)

    assert report.returncode == 0, report.stderr
    rows = json.loads(report.stdout)
    recorded = {json.loads(line)["request_id"] for line in ledger.read_text().splitlines()}
    assert sum(row["requests"] for row in rows) == len(recorded) >= 2  # this module's earlier requests too
    assert {row["tier"] for row in rows} <= {"cheap", "balanced", "premium"}
    assert f"spend ledger: none configured -> one JSON line per request in {ledger}" in serve.log()
