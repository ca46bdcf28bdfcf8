"""``costroute serve``: the proxy for local development and demos (what ``make run`` runs)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Start the LiteLLM proxy with every costroute plugin. Tiers whose provider key is missing are served by "
        "the local vLLM tier instead (the start-up log lists them); a local worker is started when none answers."
    )
    parser.add_argument("--config", type=Path, default=Path("proxy_config.yaml"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4000)
    parser.add_argument("--state-dir", type=Path, default=Path(".costroute"),
                        help="logs, generated master key and the effective config")
    parser.add_argument("--vllm-script", type=Path, default=Path("vllm/serve.sh"))
    parser.add_argument("--local-port", type=int, default=8100, help="port of the local vLLM worker")
    parser.add_argument("--no-local-engine", dest="start_local_engine", action="store_false",
                        help="never start a vLLM worker; local tiers fall back to the next tier up")
    parser.add_argument("--startup-timeout", type=float, default=900.0)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from costroute_plugins.serve.launcher import ServeOptions, serve

    return serve(ServeOptions(
        config=args.config, host=args.host, port=args.port, state_dir=args.state_dir,
        vllm_script=args.vllm_script, local_port=args.local_port,
        start_local_engine=args.start_local_engine, startup_timeout=args.startup_timeout,
    ))
