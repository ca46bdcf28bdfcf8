"""One CLI convention (docs/cli.md): every command has help, a bad file or flag is one line and exit 1, scripts get
``--json`` everywhere, old flag spellings keep working with a note, and ``report`` groups by every ledger column.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from costroute_plugins.cli import COMMANDS, main
from costroute_plugins.cli.options import CommandParser
from costroute_plugins.spend import AttributionRecord
from costroute_plugins.spend.report import GROUPS
from costroute_plugins.spend.schema import create_statements, insert_statement, row
from tests.conftest import POSTGRES_DSN
from tests.routing.conftest import CHEAP, PREMIUM, SAMPLE

DATA = Path(__file__).resolve().parent / "data"
PAIRS = DATA / "cache_pairs_sample.jsonl"
MODULES = {name: module for name, module, _help in COMMANDS}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(command: str, code: int, err: str, *mentions: str) -> None:
    assert code == 1, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"costroute {command}: error: "), err
    for text in mentions:
        assert text in lines[0], err


@pytest.mark.parametrize("command", list(MODULES))
def test_every_command_has_help(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: costroute {command}")


# Each command with the file it reads given as {file}; {tmp} is a scratch folder for what it writes.
READERS = {
    "calibrate": ["--outcomes", "{file}", "--quality-target", "0.9"],
    "eval-router": ["--outcomes", "{file}", "--cheap-model", CHEAP, "--premium-model", PREMIUM, "--baselines-only"],
    "train-router": ["--outcomes", "{file}", "--cheap-model", CHEAP, "--premium-model", PREMIUM,
                     "--out", "{tmp}/router.json", "--quiet"],
    "eval-cache": ["--pairs", "{file}"],
    "replay": ["--workload", "{file}"],
    "train-verifier": ["--pairs", "{file}", "--out", "{tmp}/verifier.json"],
    "import-pairs": ["{file}", "--out", "{tmp}/pairs.jsonl"],
    "eval-admission": ["{file}"],
    "make-workload": ["--outcomes", "{file}", "--pairs", str(PAIRS), "--out", "{tmp}/workload.jsonl"],
}


def _argv(command: str, file: Path, tmp: Path) -> list[str]:
    return [command, *(arg.format(file=file, tmp=tmp) for arg in READERS[command])]


def _reader_params() -> list:
    return list(READERS)


@pytest.mark.parametrize("command", _reader_params())
def test_a_missing_input_file_is_one_line_and_exit_1(command: str, tmp_path: Path, capsys) -> None:
    missing = tmp_path / "missing.jsonl"
    code, _out, err = run(capsys, *_argv(command, missing, tmp_path))
    assert_one_line_error(command, code, err, str(missing))


@pytest.mark.parametrize("command", _reader_params())
def test_a_malformed_input_file_is_one_line_and_exit_1(command: str, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"not": "closed"\n')
    code, _out, err = run(capsys, *_argv(command, bad, tmp_path))
    assert_one_line_error(command, code, err, "bad.jsonl")


@pytest.mark.parametrize("command", ["calibrate", "eval-router", "train-router", "eval-admission", "make-workload"])
def test_a_folder_instead_of_a_file_is_one_line_and_exit_1(command: str, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "folder.jsonl"
    folder.mkdir()
    code, _out, err = run(capsys, *_argv(command, folder, tmp_path))
    assert_one_line_error(command, code, err, str(folder))


def test_import_routellm_without_its_data_folder_is_one_line_and_exit_1(tmp_path: Path, capsys) -> None:
    code, _out, err = run(capsys, "import-routellm", str(tmp_path / "missing"), "--out-dir", str(tmp_path))
    assert_one_line_error("import-routellm", code, err, "missing", "gsm8k_responses.csv")


@pytest.mark.parametrize(("argv", "mentions"), [
    (["report", "--by", "weekday"], ["--by", "invalid choice", "experiment"]),
    (["calibrate", "--outcomes", str(SAMPLE), "--quality-target", "most"], ["--quality-target", "most"]),
    (["eval-router", "--outcomes", str(SAMPLE)], ["required", "--cheap-model", "--premium-model"]),
    (["make-workload", "--outcomes", "o.jsonl", "--pairs", "p.jsonl", "--out", "w.jsonl", "--no-such-flag"],
     ["unrecognized", "--no-such-flag"]),
    (["report", "--format", "csv", "--json"], ["--json", "--format"]),
    (["import-pairs", str(PAIRS)], ["--out"]),
])
def test_a_bad_flag_is_one_line_and_exit_1(argv: list[str], mentions: list[str], capsys) -> None:
    code, _out, err = run(capsys, *argv)
    assert_one_line_error(argv[0], code, err, *mentions)


def test_an_unknown_command_is_one_line_and_exit_1(capsys) -> None:
    code, _out, err = run(capsys, "evaluate-everything")
    assert code == 1 and err.startswith("costroute: error: ") and "evaluate-everything" in err
    assert len(err.strip().splitlines()) == 1


def test_debug_keeps_the_traceback_of_an_expected_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("COSTROUTE_DEBUG", "1")
    with pytest.raises(FileNotFoundError):
        main(["eval-admission", str(tmp_path / "missing.jsonl"), "--config", str(tmp_path / "missing.json")])


def test_old_spellings_still_work_with_a_one_line_note(capsys) -> None:
    common = ["--baselines-only", "--baseline", "random", "--seeds", "2", "--json"]
    code, new_out, new_err = run(capsys, "eval-router", "--outcomes", str(SAMPLE), "--cheap-model", CHEAP,
                                 "--premium-model", PREMIUM, *common)
    assert code == 0 and "deprecated" not in new_err
    code, old_out, old_err = run(capsys, "eval-router", "--data", str(SAMPLE), "--cheap", CHEAP, "--premium",
                                 PREMIUM, *common)
    assert code == 0 and old_out == new_out
    notes = [line for line in old_err.splitlines() if "deprecated" in line]
    assert notes == [f"costroute eval-router: note: {old} is deprecated, use {new}"
                     for old, new in (("--data", "--outcomes"), ("--cheap", "--cheap-model"),
                                      ("--premium", "--premium-model"))]


def test_import_pairs_still_takes_its_output_as_a_second_argument(tmp_path: Path, capsys) -> None:
    code, _out, err = run(capsys, "import-pairs", str(PAIRS), str(tmp_path / "pairs.jsonl"))
    written = [json.loads(line) for line in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    assert code == 0 and written == [json.loads(line) for line in PAIRS.read_text().splitlines()]
    assert err == "costroute import-pairs: note: a positional OUT is deprecated, use --out OUT\n"


def test_outcomes_take_several_files_either_way(tmp_path: Path, capsys) -> None:
    rows = SAMPLE.read_text().splitlines()
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text("\n".join(rows[:120]) + "\n")
    second.write_text("\n".join(rows[120:]) + "\n")
    common = ["--cheap-model", CHEAP, "--premium-model", PREMIUM, "--baselines-only", "--baseline", "length",
              "--json"]
    outputs = []
    for files in (["--outcomes", str(first), str(second)], ["--outcomes", str(first), "--outcomes", str(second)]):
        code, out, _err = run(capsys, "eval-router", *files, *common)
        assert code == 0
        outputs.append(json.loads(out))
    assert outputs[0] == outputs[1] and outputs[0]["n"] == len(rows)
    assert outputs[0]["data"] == [str(first), str(second)]


# The smallest valid arguments of each command that prints results, to show it takes --json.
OUTPUT_COMMANDS = {
    "price-gpu": ["--gpu-hourly-usd", "2", "--power-w", "700", "--usd-per-kwh", "0.1", "--utilization", "0.5",
                  "--tokens-per-second", "1000"],
    "report": ["--dsn", POSTGRES_DSN],
    "eval-cache": ["--pairs", "p.jsonl"],
    "train-verifier": ["--pairs", "p.jsonl", "--out", "v.json"],
    "import-pairs": ["p.tsv", "--out", "p.jsonl"],
    "eval-admission": ["prompts.jsonl"],
    "import-routellm": ["routellm", "--out-dir", "outcomes"],
    "train-router": ["--outcomes", "o.jsonl", "--cheap-model", "a", "--premium-model", "b", "--out", "r.json"],
    "eval-router": ["--outcomes", "o.jsonl", "--cheap-model", "a", "--premium-model", "b"],
    "calibrate": ["--outcomes", "o.jsonl", "--quality-target", "0.9"],
    "simulate-affinity": ["--replicas", "2", "--workload", "w.jsonl"],
    "make-workload": ["--outcomes", "o.jsonl", "--pairs", "p.jsonl", "--out", "w.jsonl"],
    "replay": ["--workload", "w.jsonl"],
}


@pytest.mark.parametrize("command", list(OUTPUT_COMMANDS))
def test_every_command_a_script_reads_takes_json(command: str) -> None:
    parser = CommandParser(prog=f"costroute {command}")
    importlib.import_module(MODULES[command]).register(parser)
    args = parser.parse_args([*OUTPUT_COMMANDS[command], "--json"])
    assert getattr(args, "json", None) is True or args.format == "json"


def test_json_output_of_the_converters_is_one_object_per_line(tmp_path: Path, capsys) -> None:
    tsv = tmp_path / "mrpc.tsv"
    tsv.write_text("Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tHe said yes.\tHe agreed.\n")
    code, out, _err = run(capsys, "import-pairs", str(tsv), "--out", str(tmp_path / "pairs.jsonl"), "--json")
    assert code == 0 and json.loads(out) == {"out": str(tmp_path / "pairs.jsonl"), "pairs": 1, "duplicates": 1}

    code, out, _err = run(capsys, "make-workload", "--outcomes", str(DATA / "routing_heldout.jsonl"),
                          "--pairs", str(PAIRS), "--out", str(tmp_path / "w.jsonl"), "--n", "40", "--json")
    summary = json.loads(out)
    assert code == 0 and summary["requests"] == 40 and sum(summary["counts"].values()) == 40


# ---- report --by every ledger column, on the real PostgreSQL ----

NOW = datetime.now(UTC)
LEDGER = [
    AttributionRecord(request_id="r1", tenant="acme", cost_usd=Decimal("0.0100000001"), timestamp=NOW, team="search",
                      key="k1", feature="answer", experiment="exp-a", variant="control", tier="cheap",
                      model="small", cache_hit=True, cache_saving_usd=Decimal("0.02")),
    AttributionRecord(request_id="r2", tenant="acme", cost_usd=Decimal("0.2"), timestamp=NOW, team="search",
                      key="k2", feature="answer", experiment="exp-a", variant="treatment", tier="premium",
                      model="large"),
    AttributionRecord(request_id="r3", tenant="globex", cost_usd=Decimal("0.03"), timestamp=NOW, team="ops",
                      key="k2", feature="summarise", experiment="exp-b", variant="treatment", tier="cheap",
                      model="small", routing_saving_usd=Decimal("0.1")),
    AttributionRecord(request_id="r4", tenant="globex", cost_usd=Decimal("0.004"), timestamp=NOW),
    AttributionRecord(request_id="old", tenant="acme", cost_usd=Decimal(9), timestamp=NOW - timedelta(days=40),
                      team="search", experiment="exp-a", variant="control"),
]


@pytest.fixture
def ledger_schema(pg_schema: str) -> Iterator[str]:
    with psycopg.connect(POSTGRES_DSN) as connection:
        for statement in create_statements(pg_schema, "costroute_spend"):
            connection.execute(statement)
        connection.cursor().executemany(insert_statement(pg_schema, "costroute_spend"), [row(r) for r in LEDGER])
    yield pg_schema


@pytest.mark.parametrize("by", [group for group in GROUPS if group != "day"])
def test_report_groups_by_every_ledger_column(by: str, ledger_schema: str, capsys) -> None:
    code, out, err = run(capsys, "report", "--dsn", POSTGRES_DSN, "--schema", ledger_schema, "--since", "30d",
                         "--by", by, "--json")
    assert code == 0, err
    reported = {entry[by]: entry for entry in json.loads(out)}
    recent = [r for r in LEDGER if r.timestamp >= NOW - timedelta(days=30)]
    expected: dict[str, list[AttributionRecord]] = {}
    for record in recent:
        expected.setdefault(getattr(record, by) or "(none)", []).append(record)
    assert set(reported) == set(expected)
    for group, records in expected.items():
        assert reported[group]["requests"] == len(records)
        assert Decimal(reported[group]["cost_usd"]) == sum(r.cost_usd for r in records)
        assert Decimal(reported[group]["premium_counterfactual_usd"]) == sum(
            r.cost_usd + r.cache_saving_usd + r.routing_saving_usd for r in records)


def test_report_by_variant_as_a_table_has_a_total(ledger_schema: str, capsys) -> None:
    code, out, _err = run(capsys, "report", "--dsn", POSTGRES_DSN, "--schema", ledger_schema, "--since", "30d",
                          "--by", "variant")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:2] == ["variant", "requests"]
    assert [line.split()[0] for line in lines[1:]] == ["treatment", "control", "(none)", "TOTAL"]
    assert lines[-1].split()[1] == "4"


def test_report_that_cannot_write_its_plot_is_one_line_and_exit_1(ledger_schema: str, tmp_path: Path,
                                                                   capsys) -> None:
    plot = tmp_path / "missing-folder" / "spend.png"
    code, _out, err = run(capsys, "report", "--dsn", POSTGRES_DSN, "--schema", ledger_schema, "--plot", str(plot))
    assert_one_line_error("report", code, err, str(plot))


def test_report_on_a_schema_without_a_ledger_is_one_line_and_exit_1(pg_schema: str, capsys) -> None:
    code, _out, err = run(capsys, "report", "--dsn", POSTGRES_DSN, "--schema", pg_schema, "--by", "team")
    assert_one_line_error("report", code, err, "cannot read the ledger", "--schema")
