"""Start the local vLLM worker (when a tier needs it) and the LiteLLM proxy, showing progress as they load.

The operator sees each step with its elapsed time, where the logs are, and which tiers are served locally.
Both children are stopped together on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import yaml

from costroute_plugins.config import CostrouteConfigError, parse_config
from costroute_plugins.harness.processes import (
    OFFLINE_ENV,
    ManagedProcess,
    answers,
    proxy_command,
    spawn,
    stored_master_key,
    wait_until,
)
from costroute_plugins.serve.local_ledger import plan_local_ledger
from costroute_plugins.serve.local_tiers import ENV_PREFIX, plan_local_serving, resolve_env_value

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class ServeOptions:
    config: Path
    host: str = "127.0.0.1"
    port: int = 4000
    state_dir: Path = Path(".costroute")
    vllm_script: Path = Path("vllm/serve.sh")
    local_port: int = 8100
    start_local_engine: bool = True
    startup_timeout: float = 900.0


class Progress:
    """Timestamped start-up lines on stderr, so a slow first start never looks like a hang."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[costroute {time.monotonic() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)


def _wait_for(url: str, what: str, child: ManagedProcess, progress: Progress, timeout: float) -> None:
    """Until ``url`` answers; ``child`` is stopped if it never does."""
    try:
        wait_until(lambda: answers(url), timeout, f"{what} at {url}", child.process, child.log_path,
                   still_waiting=lambda: progress(f"still loading {what}... (log: {child.log_path})"))
    except BaseException:
        child.stop(timeout=20)
        raise


def _stop(child: ManagedProcess | None) -> None:
    if child is not None:
        child.stop(timeout=20)


def _master_key(env: dict[str, str], state_dir: Path, progress: Progress) -> str:
    """Use LITELLM_MASTER_KEY when set; otherwise a generated key kept in the state folder across restarts."""
    if env.get("LITELLM_MASTER_KEY"):
        return env["LITELLM_MASTER_KEY"]
    key_file = state_dir / "master_key"
    env["LITELLM_MASTER_KEY"], created = stored_master_key(key_file)
    if created:
        progress(f"LITELLM_MASTER_KEY not set: generated a development key in {key_file}")
    return env["LITELLM_MASTER_KEY"]


def _ensure_local_engine(
    local_params: Mapping[str, object], env: dict[str, str], options: ServeOptions, progress: Progress
) -> ManagedProcess | None:
    """Reuse a worker that already answers, else start ``vllm/serve.sh`` on loopback and wait for it."""
    configured = local_params.get("api_base")
    base = resolve_env_value(configured, env)
    if base is None:
        base = f"http://127.0.0.1:{options.local_port}/v1"
        if isinstance(configured, str) and configured.startswith(ENV_PREFIX):
            env[configured.removeprefix(ENV_PREFIX)] = base
    models_url = base.rstrip("/") + "/models"
    if answers(models_url):
        progress(f"local vLLM worker already answering at {base}")
        return None
    parsed = urlparse(base)
    if not options.start_local_engine or parsed.hostname not in LOOPBACK_HOSTS:
        progress(f"local tier at {base} does not answer; its requests will fall back to the next tier up")
        return None
    if not options.vllm_script.exists():
        raise FileNotFoundError(f"{options.vllm_script} not found: run from the costroute checkout or pass "
                                "--vllm-script, or start a vLLM worker yourself and set its api_base")
    log = options.state_dir / f"vllm-{parsed.port}.log"
    served_name = str(local_params.get("model", "")).split("/", 1)[-1]
    progress(f"starting vLLM worker {served_name} on :{parsed.port} (first start compiles, minutes on CPU; "
             f"log: {log})")
    worker = spawn(["bash", str(options.vllm_script), "--port", str(parsed.port), "--name", served_name], log, env,
                   inherit_env=False, append=True)
    _wait_for(models_url, "vLLM worker", worker, progress, options.startup_timeout)
    progress(f"vLLM worker ready at {base}")
    return worker


def serve(options: ServeOptions) -> int:
    progress = Progress()
    env = {**OFFLINE_ENV, **os.environ}  # an operator's own settings win
    progress(f"reading {options.config}")
    try:
        document = yaml.safe_load(options.config.read_text()) or {}
        costroute = parse_config(document.get("costroute"), source=str(options.config))
        plan = plan_local_serving(document, costroute.tiers, env)
        ledger_plan = plan_local_ledger(plan.document, costroute.spend.ledger, options.state_dir)
    except (OSError, yaml.YAMLError, CostrouteConfigError, ValueError) as error:
        print(f"costroute serve: {error}", file=sys.stderr)
        return 1
    for line in [*plan.describe(), ledger_plan.line]:
        progress(line)

    worker = proxy = None
    stopping = False

    def _on_signal(signum, frame):
        nonlocal stopping
        stopping = True
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if plan.local_params is not None:
            worker = _ensure_local_engine(plan.local_params, env, options, progress)
        _master_key(env, options.state_dir, progress)
        effective = options.state_dir / "proxy_config.effective.yaml"
        effective.parent.mkdir(parents=True, exist_ok=True)
        effective.write_text(yaml.safe_dump(ledger_plan.document, sort_keys=False))
        env["COSTROUTE_CONFIG"] = str(effective.resolve())
        log = options.state_dir / "proxy.log"
        progress(f"starting LiteLLM proxy with costroute plugins on {options.host}:{options.port} (log: {log})")
        proxy = spawn(proxy_command(effective, options.host, options.port), log, env, inherit_env=False,
                      append=True)
        url = f"http://{options.host}:{options.port}"
        _wait_for(f"{url}/health/liveliness", "LiteLLM proxy", proxy, progress, options.startup_timeout)
        progress(f"ready: {url}  (model 'auto' routes across {', '.join(costroute.tiers)})")
        key_hint = "$LITELLM_MASTER_KEY" if os.environ.get("LITELLM_MASTER_KEY") else \
            f"$(cat {options.state_dir / 'master_key'})"
        progress(f"try: curl {url}/v1/chat/completions -H \"Authorization: Bearer {key_hint}\" "
                 "-H 'Content-Type: application/json' "
                 "-d '{\"model\": \"auto\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello!\"}]}'")
        return proxy.process.wait()
    except KeyboardInterrupt:
        progress("stopping")
        return 0 if stopping else 130
    except (RuntimeError, TimeoutError, FileNotFoundError) as error:
        print(f"costroute serve: {error}", file=sys.stderr)
        return 1
    finally:
        _stop(proxy)
        _stop(worker)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
