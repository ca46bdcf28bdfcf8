"""Every command the README shows, run the way an operator runs it: typed into a shell, in a folder of their own.

The commands are read from README.md, not copied: each line of a ```bash block, each ``$ `` line of another block
(with the output printed under it) and each inline `costroute ...`, `make ...`, `pip ...`, `litellm ...` or `curl
...` span. The first test fails on a command no test here knows, so a new README command needs a test in this
file. The others run each command verbatim, in a folder holding the files it names: `your_config.yaml` (the
shipped proxy_config.yaml, its tiers on stub providers, with the file ledger `make run` gives) and
`.costroute/master_key` for the proxy, `workload.jsonl`, `audits.jsonl`, `prompts.jsonl` for the commands that
read them. One proxy, started with the README's own `litellm --config your_config.yaml`, serves the module.
Commands a slower test runs already (`make run` starts vLLM, `pip install` builds a fresh virtualenv) are mapped
to that test, which must still run them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml
from psycopg.conninfo import make_conninfo

from costroute_plugins.cli import COMMANDS
from costroute_plugins.quality.audit import Audit
from costroute_plugins.quality.judge import Verdict
from costroute_plugins.routing.registry import ArtifactRegistry
from costroute_plugins.spend import AttributionRecord
from costroute_plugins.spend.schema import create_statements, insert_statement, row
from tests.conftest import POSTGRES_DSN, TIERS
from tests.harness import (
    PROXY_CONFIG,
    REPO,
    ManagedProcess,
    Stub,
    free_port,
    new_master_key,
    spawn,
    tier_env,
    wait_until,
    write_config,
)

README = REPO / "README.md"
BIN = Path(sys.executable).parent
PROGRAMS = ("costroute", ".venv/bin/costroute", "make", "pip", "litellm", "curl")
SUBCOMMANDS = {name for name, _module, _help in COMMANDS}
FENCES = re.compile(r"^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)

# How a README command starts -> the test in this module that runs it verbatim.
RUN_HERE = {
    "curl http://127.0.0.1:4000/v1/chat/completions": "test_the_same_question_twice_is_answered_from_the_cache",
    ".venv/bin/costroute report --rows .costroute/spend.jsonl": "test_report_rows_shows_what_the_two_answers_cost",
    "costroute check-config your_config.yaml": "test_check_config_passes_the_operators_config",
    "litellm --config your_config.yaml": "test_the_restarted_proxy_logs_that_costroute_loaded",
    "costroute report --since 7d --by team": "test_report_from_postgresql_groups_the_traffic_by_team",
    "costroute price-gpu ": "test_price_gpu_gives_the_rates_the_shipped_config_charges",
    "costroute replay --workload workload.jsonl --config your_config.yaml":
        "test_replay_prints_cost_and_quality_against_always_premium",
    "costroute learn --records audits.jsonl": "test_learn_publishes_a_router_that_is_not_worse",
    "costroute eval-admission prompts.jsonl": "test_eval_admission_counts_what_the_cache_would_refuse",
    "costroute check-config proxy_config.yaml": "test_check_config_prints_the_readmes_sample_error",
    "costroute --help": "test_help_lists_every_command",
}
# Commands a slower test runs already: where, and the text there that shows it runs them.
RUN_ELSEWHERE = {
    "make run": (("Makefile", "$(VENV)/bin/costroute serve"), ("tests/test_make_run.py", '"serve"')),
    "make test": ((".ci/run", "make test"), ("Makefile", "$(VENV)/bin/python -m pytest")),
    "pip install /path/to/this/checkout": (("tests/test_existing_deployment.py", '"pip", "install"'),),
}


@dataclass(frozen=True)
class Shown:
    """A command the README shows, and the output it prints under it (sample blocks only)."""

    command: str
    output: tuple[str, ...] = ()


def _logical_lines(body: str) -> list[str]:
    """Lines of a shell block with backslash continuations joined, comments and blank lines dropped."""
    joined = re.sub(r"\s*\\\n\s*", " ", body)
    lines = (re.sub(r"\s+#\s.*$", "", line).strip() for line in joined.splitlines())
    return [line for line in lines if line]


def _inline(span: str) -> str | None:
    """The command an inline code span shows, if it shows one: `costroute 0.1.0 loaded ...` is a log line."""
    words = span.split()
    if len(words) < 2 or words[0] not in PROGRAMS:
        return None
    if words[0].endswith("costroute") and not re.fullmatch(r"-{0,2}[a-z][a-z-]*", words[1]):
        return None
    return " ".join(words)


def inline_spans() -> list[str]:
    """The README's inline code spans outside fenced blocks, line breaks inside a span read as spaces."""
    return [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", FENCES.sub("", README.read_text()))]


def readme_commands() -> tuple[dict[str, Shown], set[str]]:
    """Every command the README shows (in order), and the sub-commands it only names (`costroute learn`)."""
    shown: dict[str, Shown] = {}
    for block in FENCES.finditer(README.read_text()):
        if block.group("lang") == "bash":
            for line in _logical_lines(block.group("body")):
                shown.setdefault(line, Shown(line))
        elif block.group("lang") == "":
            samples = re.split(r"^\$ ", block.group("body"), flags=re.MULTILINE)[1:]
            for sample in samples:
                command, *output = sample.rstrip("\n").split("\n")
                shown.setdefault(command, Shown(command, tuple(output)))
    named: set[str] = set()
    for span in inline_spans():
        command = _inline(span)
        words = (command or "").split()
        if len(words) == 2 and words[0] == "costroute" and not words[1].startswith("-"):
            named.add(words[1])
        elif command:
            shown.setdefault(command, Shown(command))
    return shown, named


def readme_command(start: str) -> Shown:
    """The one command the README shows that starts with ``start``."""
    matching = [shown for command, shown in readme_commands()[0].items() if command.startswith(start)]
    assert len(matching) == 1, f"README shows {len(matching)} commands starting with {start!r}"
    return matching[0]


def test_every_command_the_readme_shows_is_run_by_a_test() -> None:
    commands, _named = readme_commands()
    starts = [*RUN_HERE, *RUN_ELSEWHERE]

    unknown = [command for command in commands if not any(command.startswith(start) for start in starts)]
    assert not unknown, f"README commands no test runs (add them to {Path(__file__).name}): {unknown}"
    for start in starts:
        assert sum(command.startswith(start) for command in commands) == 1, f"README no longer shows {start!r}"
    for test_name in RUN_HERE.values():
        assert callable(globals().get(test_name)), test_name
    for places in RUN_ELSEWHERE.values():
        for path, text in places:
            assert text in (REPO / path).read_text(), f"{path} no longer runs {text!r}"


def test_every_command_the_readme_names_exists() -> None:
    _commands, named = readme_commands()

    assert named and named <= SUBCOMMANDS, named - SUBCOMMANDS


# -- the operator's folder and proxy ----------------------------------------------------------------------------------
@dataclass
class Deployment:
    folder: Path
    url: str
    proxy: ManagedProcess


def operator_env(**extra: str) -> dict[str, str]:
    """The operator's shell: this checkout's .venv/bin first on PATH, no ledger or Redis of theirs set, no
    downloads (the embedding model is on disk)."""
    environment = {name: value for name, value in os.environ.items()
                   if name not in ("COSTROUTE_LEDGER_DSN", "REDIS_URL")}
    environment.update(PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", LITELLM_LOCAL_MODEL_COST_MAP="True",
                       HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", **extra)
    return environment


def run(command: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``command`` typed into the operator's shell in ``cwd``."""
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=operator_env(**env), capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, stubs: dict[str, Stub]) -> Iterator[Deployment]:
    """The README's restart, `litellm --config your_config.yaml`, in a folder laid out as `make run` leaves one."""
    folder = tmp_path_factory.mktemp("operator")
    (folder / ".venv").symlink_to(BIN.parent)
    (folder / ".costroute").mkdir()
    key = new_master_key()
    (folder / ".costroute" / "master_key").write_text(key + "\n")
    write_config(folder / "your_config.yaml",
                 costroute={"spend": {"ledger": {"enabled": True, "file": ".costroute/spend.jsonl"}}})
    for stub in stubs.values():  # shared with other modules: default answers, nothing recorded
        stub.clear()
    port = free_port()
    command = shlex.split(readme_command("litellm --config your_config.yaml").command)
    proxy = spawn([*command, "--host", "127.0.0.1", "--port", str(port)], folder / "proxy.log",
                  env=operator_env(LITELLM_MASTER_KEY=key, LITELLM_TELEMETRY="False", **tier_env(stubs)),
                  cwd=folder, inherit_env=False)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{url}/health/liveliness", timeout=2).status_code == 200, 180,
                   "litellm --config your_config.yaml", proxy.process, proxy.log_path)
        yield Deployment(folder, url, proxy)
    finally:
        proxy.stop()


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: dict


def curl(deployment: Deployment) -> Answer:
    """The README's curl, pointed at this module's proxy instead of port 4000."""
    command = readme_command("curl http://127.0.0.1:4000/").command.replace("http://127.0.0.1:4000", deployment.url)
    done = run(command, deployment.folder)
    assert done.returncode == 0, done.stderr
    head, _blank, body = done.stdout.partition("\n\n")  # text mode: curl's CRLF read as LF
    status_line, *lines = head.splitlines()
    headers = {name.strip().lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
    return Answer(int(status_line.split()[1]), headers, json.loads(body))


@pytest.fixture(scope="module")
def asked_twice(deployment: Deployment) -> tuple[Answer, Answer]:
    """The README's curl run twice, once its two ledger rows are written."""
    first, second = curl(deployment), curl(deployment)
    ledger = deployment.folder / ".costroute" / "spend.jsonl"
    ids = (first.headers.get("x-costroute-request-id", "?"), second.headers.get("x-costroute-request-id", "?"))
    wait_until(lambda: ledger.exists() and all(request in ledger.read_text() for request in ids), 60,
               "both ledger rows", deployment.proxy.process, deployment.proxy.log_path)
    return first, second


# -- Two commands -----------------------------------------------------------------------------------------------------
def test_the_same_question_twice_is_answered_from_the_cache(asked_twice: tuple[Answer, Answer]) -> None:
    first, second = asked_twice

    assert (first.status, second.status) == (200, 200)
    assert first.headers["x-costroute-cache"] == "miss"
    assert second.headers["x-costroute-cache"] == "hit"
    tier = first.headers["x-costroute-tier"]
    assert tier in TIERS and second.headers["x-costroute-tier"] == tier
    assert first.body["choices"][0]["message"]["content"] == f"[{tier}] answer to: What is the capital of France?"
    assert second.body["choices"][0]["message"]["content"] == first.body["choices"][0]["message"]["content"]
    assert first.headers["x-costroute-request-id"] != second.headers["x-costroute-request-id"]
    assert first.headers["x-litellm-complexity-router-tier"] == tier


def test_report_rows_shows_what_the_two_answers_cost(deployment: Deployment, asked_twice) -> None:
    done = run(readme_command(".venv/bin/costroute report --rows").command, deployment.folder)

    assert done.returncode == 0, done.stderr
    total = next(line for line in done.stdout.splitlines() if line.startswith("TOTAL")).split()
    assert total[1] == "2"  # requests
    assert "50.0%" in total  # cache-hit rate: the second answer


# -- Add costroute to an existing LiteLLM deployment ------------------------------------------------------------------
def test_check_config_passes_the_operators_config(deployment: Deployment) -> None:
    done = run(readme_command("costroute check-config your_config.yaml").command, deployment.folder)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "OK your_config.yaml: 0 errors, 0 warnings"


def test_the_restarted_proxy_logs_that_costroute_loaded(deployment: Deployment) -> None:
    promised = next(span for span in inline_spans() if span.startswith("costroute 0.1.0 loaded from"))

    assert promised.removesuffix("...").strip() in deployment.proxy.log()


# -- Cookbook ---------------------------------------------------------------------------------------------------------
@pytest.fixture
def ledger_database(deployment: Deployment, asked_twice) -> Iterator[str]:
    """A PostgreSQL database of its own holding the rows the proxy wrote for the two answers."""
    name = f"costroute_readme_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    dsn = make_conninfo(POSTGRES_DSN, dbname=name)
    try:
        lines = (deployment.folder / ".costroute" / "spend.jsonl").read_text().splitlines()
        with psycopg.connect(dsn) as connection:
            for statement in create_statements("public", "costroute_spend"):
                connection.execute(statement)
            connection.cursor().executemany(insert_statement("public", "costroute_spend"),
                                            [row(AttributionRecord.from_json(json.loads(line))) for line in lines])
        yield dsn
    finally:
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_report_from_postgresql_groups_the_traffic_by_team(deployment: Deployment, ledger_database: str) -> None:
    done = run(readme_command("costroute report --since 7d --by team").command, deployment.folder,
               COSTROUTE_LEDGER_DSN=ledger_database)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:2] == ["team", "requests"]
    assert lines[1].split()[:2] == ["(none)", "2"]  # the master key has no team


def test_price_gpu_gives_the_rates_the_shipped_config_charges(tmp_path: Path) -> None:
    done = run(readme_command("costroute price-gpu ").command, tmp_path)

    assert done.returncode == 0, done.stderr
    rates = dict(re.findall(r"^(input_usd_per_token|output_usd_per_token): (\S+)$", done.stdout, re.MULTILINE))
    cheap = next(entry["litellm_params"] for entry in yaml.safe_load(PROXY_CONFIG.read_text())["model_list"]
                 if entry["model_name"] == "cheap")
    assert f"{float(rates['output_usd_per_token']):.1e}" == f"{cheap['output_cost_per_token']:.1e}"
    assert f"{float(rates['input_usd_per_token']):.1e}" == f"{cheap['input_cost_per_token']:.1e}"


def test_replay_prints_cost_and_quality_against_always_premium(deployment: Deployment) -> None:
    data = REPO / "tests" / "data"
    built = run(f"costroute make-workload --outcomes {data / 'routing_heldout.jsonl'} --pairs "
                f"{data / 'cache_pairs_sample.jsonl'} --n 24 --out workload.jsonl", deployment.folder)
    assert built.returncode == 0, built.stderr

    done = run(readme_command("costroute replay --workload workload.jsonl").command, deployment.folder)

    assert done.returncode == 0, done.stderr[-4000:]
    lines = done.stdout.splitlines()
    assert any(line.startswith("requests: 24 ") for line in lines)
    assert any(re.match(r"cost: \S+ USD vs always-premium \S+ USD -> reduction", line) for line in lines)
    assert any(re.match(r"quality: served \S+ vs always-premium \S+", line) for line in lines)


def _audits() -> list[dict]:
    """A month of audits on traffic unlike the public data's: this cheap tier writes code as well as the top tier
    but translates badly, so a router learned from them is better here than the shipped one."""
    words = ("apple", "river", "window", "mountain", "teacher", "garden", "bicycle", "letter", "bridge", "candle",
             "forest", "kitchen", "doctor", "island", "pencil", "summer", "market", "violin", "harbor", "blanket")
    languages = ("French", "German", "Spanish", "Italian", "Dutch", "Polish")
    tasks = ("reverses a list of {n} items", "sums the first {n} primes", "checks whether {n} is a perfect number",
             "prints the {n}th Fibonacci number", "returns the binary form of {n}", "counts the divisors of {n}")
    graded = [(f"Translate the word '{word}' into {language}.", 3.0) for word in words for language in languages]
    graded += [(f"Write a Python function that {task.format(n=n)}.", 9.0) for task in tasks for n in range(3, 23)]
    return [Audit(request_id=f"req-{number}", tenant="team:acme", kind="routed", served_tier="cheap",
                  reference_tier="premium", messages=({"role": "user", "content": prompt},), served_answer="...",
                  reference_answer="...", verdict=Verdict("single", served_rating=rating, reference_rating=9.0),
                  ).storable() for number, (prompt, rating) in enumerate(graded)]


def test_learn_publishes_a_router_that_is_not_worse(tmp_path: Path) -> None:
    (tmp_path / "audits.jsonl").write_text("".join(json.dumps(audit) + "\n" for audit in _audits()))
    (tmp_path / "outcomes.jsonl").write_text((REPO / "tests" / "data" / "routing_sample.jsonl").read_text())

    done = run(readme_command("costroute learn --records audits.jsonl").command, tmp_path)

    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.splitlines()[-1] == "published v0002 (live)"
    assert ArtifactRegistry(tmp_path / "router").live_version() == "v0002"


# -- Isolation --------------------------------------------------------------------------------------------------------
def test_eval_admission_counts_what_the_cache_would_refuse(tmp_path: Path) -> None:
    prompts = ("Email the invoice to jane.doe@example.org", "What is the weather in Paris today?",
               "How do I reverse a list in Python?")
    (tmp_path / "prompts.jsonl").write_text("".join(json.dumps({"prompt": prompt}) + "\n" for prompt in prompts))

    done = run(readme_command("costroute eval-admission prompts.jsonl").command, tmp_path)

    assert done.returncode == 0, done.stderr
    assert re.search(r"^refused, personal data or credential\s+33\.33%\s+1$", done.stdout, re.MULTILINE)
    assert re.search(r"^never cached, TTL 0\s+33\.33%\s+1$", done.stdout, re.MULTILINE)


# -- Configuration ----------------------------------------------------------------------------------------------------
def test_check_config_prints_the_readmes_sample_error(tmp_path: Path) -> None:
    sample = readme_command("costroute check-config proxy_config.yaml")
    shipped = PROXY_CONFIG.read_text()
    assert shipped.count("    mode: enforce\n") == 1
    (tmp_path / "proxy_config.yaml").write_text(shipped.replace("    mode: enforce\n", "    mode: enfroce\n"))

    done = run(sample.command, tmp_path)

    assert done.returncode == 1 and done.stdout == ""
    assert tuple(done.stderr.splitlines()) == sample.output


def test_help_lists_every_command(tmp_path: Path) -> None:
    done = run(readme_command("costroute --help").command, tmp_path)

    assert done.returncode == 0, done.stderr
    assert all(re.search(rf"^\s+{name}\s", done.stdout, re.MULTILINE) for name in SUBCOMMANDS)
