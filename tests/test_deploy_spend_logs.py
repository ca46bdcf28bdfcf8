"""The deployed proxy config (``deploy/config/proxy_config.yaml``) on the real LiteLLM proxy: what each request
writes to LiteLLM's ``LiteLLM_SpendLogs`` table, where LiteLLM's Admin UI and usage pages read it, carries
costroute's attribution (tenant, feature tag, route, savings) and agrees with costroute's own ledger; and prefix
affinity is on across the cheap tier's two workers.

LiteLLM's database cannot run here (its Prisma engines cannot be downloaded), so the rows come from LiteLLM's own
spend writer with only its final insert captured (``tests/support/spend_logs_row.py``). The other stand-ins,
each for something only production has: stub upstreams for the provider tiers and both vLLM workers, and keys
``sk-team-<name>`` that authenticate as team ``<name>`` in place of LiteLLM virtual keys created with a team
(those live in the database too). Cache and budgets run in process (no ``REDIS_URL``); the ledger is the real
PostgreSQL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from costroute_plugins.harness import config_edits
from tests.conftest import POSTGRES_DSN
from tests.harness import REPO, Proxy, Stub, start_proxy, start_stub, wait_until
from tests.support.deploy_files import PROXY_CONFIG
from tests.support.litellm_database import Databases, apply_litellm_migrations, insert_spend_logs

ROW_CAPTURE = "tests.support.spend_logs_row.capture"
EASY = "Translate 'good morning' into Spanish."


@dataclass
class Deployment:
    proxy: Proxy
    workers: list[Stub]
    rows: Path
    ledger_schema: str


@pytest.fixture(scope="module")
def deployment(stubs: dict[str, Stub], process_logs: Path, tmp_path_factory, ledger_schema: str
               ) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp("deployed")
    workers = [stubs["cheap"], start_stub("cheap-worker-1", process_logs)]
    # The deployed config with only the stand-ins the module docstring names, plus the row capture listed last.
    document = config_edits.read_config(PROXY_CONFIG)
    document = config_edits.with_tiers_at(document, {tier: stubs[tier].base_url for tier in ("balanced", "premium")},
                                          "sk-stub-not-a-real-key")
    document = config_edits.with_team_keys(document)
    document = config_edits.with_callbacks(document, [*config_edits.callbacks_of(document), ROW_CAPTURE])
    document = config_edits.with_costroute(document, {"spend": {"ledger": {
        "enabled": True, "db_schema": ledger_schema, "flush_interval_s": 0.2,
        "spool_path": str(folder / "spend-spool.jsonl")}}})
    rows = folder / "spend-logs.jsonl"
    env = {"COSTROUTE_CHEAP_0_API_BASE": workers[0].base_url, "COSTROUTE_CHEAP_1_API_BASE": workers[1].base_url,
           "COSTROUTE_CHEAP_API_KEY": "sk-stub-not-a-real-key", "OPENAI_API_KEY": "sk-stub-not-a-real-key",
           "COSTROUTE_LEDGER_DSN": POSTGRES_DSN, "REDIS_URL": "", "PYTHONPATH": str(REPO),
           "SPEND_LOGS_ROW_CAPTURE": str(rows)}
    proxy = start_proxy(config_edits.write_config(folder / "proxy_config.yaml", document), process_logs, env=env)
    yield Deployment(proxy, workers, rows, ledger_schema)
    proxy.stop()
    workers[1].stop()


@pytest.fixture(scope="module")
def litellm_database() -> Iterator[Databases]:
    """LiteLLM's database as deploy/ creates it: the init script's role and database, LiteLLM's migrations in it."""
    databases = Databases.named_uniquely(POSTGRES_DSN)
    created = databases.create()
    assert created.returncode == 0, created.stderr
    migrated = apply_litellm_migrations(databases.litellm_dsn)
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    yield databases
    databases.drop()


def ask(deployment: Deployment, team: str, text: str, model: str = "auto", **extra: Any):
    return deployment.proxy.client(api_key=f"sk-team-{team}").chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}], extra_body=extra)


def spend_logs_row(deployment: Deployment, request_id: str) -> dict[str, Any]:
    """The SpendLogs row of costroute's request ``request_id`` as LiteLLM would insert it (``metadata`` a JSON
    string); written after the answer, so waited for."""
    found: dict[str, Any] = {}

    def written() -> bool:
        for line in deployment.rows.read_text().splitlines() if deployment.rows.exists() else []:
            row = json.loads(line)
            if costroute_fields(row).get("costroute_request_id") == request_id:
                found.update(row)
                return True
        return False

    wait_until(written, 30, f"the SpendLogs row of request {request_id}")
    return found


def costroute_fields(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(row["metadata"])["spend_logs_metadata"]


def ledger_row(deployment: Deployment, request_id: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def written() -> bool:
        with psycopg.connect(POSTGRES_DSN) as connection:
            cursor = connection.execute(
                f'SELECT * FROM "{deployment.ledger_schema}".costroute_spend WHERE request_id = %s', (request_id,))
            row = cursor.fetchone()
            if row is not None:
                found.update(zip([column.name for column in cursor.description], row, strict=True))
        return bool(found)

    wait_until(written, 30, f"the ledger row of request {request_id}")
    return found


def test_a_teams_request_is_a_spend_logs_row_with_costroute_attribution_matching_the_ledger(deployment, fresh_stubs):
    answer = ask(deployment, "search", EASY, tags=["feature:search"])
    request_id = answer.headers["x-costroute-request-id"]

    row = spend_logs_row(deployment, request_id)
    costroute = costroute_fields(row)
    ledger = ledger_row(deployment, request_id)

    # What LiteLLM's usage pages group by: the key's team and the request tags.
    assert row["team_id"] == "search"
    assert "feature:search" in json.loads(row["request_tags"])
    assert costroute["costroute_tenant"] == "team:search" and costroute["costroute_feature"] == "search"
    assert costroute["costroute_route_tier"] == answer.headers["x-costroute-tier"] != "premium"
    # The money: LiteLLM's cost of the tier that answered, and what routing saved against premium, as
    # LiteLLM's own router figures it and as costroute records it in its ledger.
    assert row["spend"] > 0 and float(ledger["cost_usd"]) == pytest.approx(row["spend"])
    assert costroute["costroute_routing_saving_usd"] == pytest.approx(json.loads(row["metadata"])["autorouter_savings"])
    assert costroute["costroute_routing_saving_usd"] > 0
    assert float(ledger["routing_saving_usd"]) == pytest.approx(costroute["costroute_routing_saving_usd"])


def test_a_cache_hit_is_a_spend_logs_row_that_cost_nothing_and_names_what_it_saved(deployment, fresh_stubs):
    first = ask(deployment, "support", "How do I reset my router to factory settings?", tags=["feature:help"])
    again = ask(deployment, "support", "How do I reset my router to factory settings?", tags=["feature:help"])

    paid = spend_logs_row(deployment, first.headers["x-costroute-request-id"])
    hit = spend_logs_row(deployment, again.headers["x-costroute-request-id"])
    ledger = ledger_row(deployment, again.headers["x-costroute-request-id"])

    assert again.headers["x-costroute-cache"] == "hit"
    assert hit["cache_hit"] == "True" and hit["spend"] == 0 and hit["team_id"] == "support"
    saved = costroute_fields(hit)["costroute_cache_saving_usd"]
    assert paid["spend"] > 0 and saved == pytest.approx(paid["spend"])
    assert float(ledger["cache_saving_usd"]) == pytest.approx(saved)


def test_the_rows_fit_litellms_own_table_and_the_documented_query_reads_costroute_fields_back(
        deployment, fresh_stubs, litellm_database: Databases):
    asked = [ask(deployment, "reports", text, tags=["feature:weekly"]) for text in
             ("Summarise last week's sales figures.", EASY, "Summarise last week's sales figures.")]
    rows = [spend_logs_row(deployment, answer.headers["x-costroute-request-id"]) for answer in asked]

    insert_spend_logs(litellm_database.litellm_dsn, rows)
    with psycopg.connect(litellm_database.litellm_dsn) as connection:
        cursor = connection.execute(documented_query())
        report = [dict(zip([c.name for c in cursor.description], values, strict=True)) for values in cursor]

    assert asked[2].headers["x-costroute-cache"] == "hit"
    (reports,) = [line for line in report if line["team_id"] == "reports"]
    assert (reports["feature"], reports["requests"]) == ("weekly", 3)
    assert reports["spend_usd"] == pytest.approx(sum(row["spend"] for row in rows))
    for saving in ("cache_saving_usd", "routing_saving_usd"):
        assert float(reports[saving]) == pytest.approx(sum(costroute_fields(row)[f"costroute_{saving}"] for row in rows))
    assert float(reports["cache_saving_usd"]) == pytest.approx(rows[0]["spend"])


def documented_query() -> str:
    """The SpendLogs query docs/deploy.md gives operators."""
    text = (REPO / "docs" / "deploy.md").read_text()
    block = re.search(r"<!-- spend-logs-query:start -->\s*```sql\n(.*?)```\s*<!-- spend-logs-query:end -->", text,
                      re.DOTALL)
    assert block, "docs/deploy.md lost its spend-logs-query markers"
    return block.group(1)


def test_prompts_sharing_a_system_prompt_stay_on_the_worker_that_holds_its_prefix(deployment, fresh_stubs):
    deployment.workers[1].clear()
    system = "You are the billing assistant of Example Corp. " + " ".join(
        f"Rule {rule}: answer about invoices, refunds and delivery status politely." for rule in range(12))
    client = deployment.proxy.client(api_key="sk-team-billing")

    questions = ("Where is my invoice?", "Can I get a refund?", "When will my parcel arrive?",
                 "Why was I charged twice?", "How do I change my billing address?", "Is VAT included?")
    for question in questions:
        client.chat.completions.create(model="cheap", messages=[{"role": "system", "content": system},
                                                                {"role": "user", "content": question}])

    served = sorted(len(worker.received()) for worker in deployment.workers)
    assert served == [0, len(questions)]  # LiteLLM's own shuffle would have split them
