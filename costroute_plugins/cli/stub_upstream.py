"""``costroute stub-upstream``: serve the OpenAI-compatible stub on a port (tests, benchmarks, demos)."""

from __future__ import annotations

import argparse


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = "Run an OpenAI-compatible stub provider with controllable latency, failures and usage."
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", default="stub", help="tier or model name echoed in answers")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--outcomes", help="answers file: known prompts get this tier's recorded answer "
                        "(see costroute_plugins/stub/outcomes.py; `costroute replay` writes one)")
    parser.add_argument("--tier", help="tier whose recorded answers to give (default: --name)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from costroute_plugins.stub import StubBehaviour, StubUpstream
    from costroute_plugins.stub.outcomes import OutcomeBook

    book = OutcomeBook.load(args.outcomes, args.tier or args.name) if args.outcomes else None
    stub = StubUpstream(
        StubBehaviour(name=args.name, latency_ms=args.latency_ms, fail_rate=args.fail_rate, seed=args.seed), book
    )
    # Keep idle connections open as long as real providers do: with uvicorn's 5 s default the server can close a
    # connection just as LiteLLM reuses it, and the request fails with "Server disconnected".
    uvicorn.run(stub.app, host=args.host, port=args.port, log_level="warning", access_log=False,
                timeout_keep_alive=75)
    return 0
