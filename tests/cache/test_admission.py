"""Nothing personal, secret, broken or stale is stored."""

from __future__ import annotations

import json

import pytest

from costroute_plugins.cache.admission import AdmissionPolicy
from costroute_plugins.cache.pii import iban_valid, luhn_valid
from costroute_plugins.cli import main

OK = {"choices": [{"message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}],
      "id": "chatcmpl-AbCdEf0123456789GhIjKlMnOpQrStUvWx", "system_fingerprint": "fp_44709d6fcb"}


@pytest.mark.parametrize(
    ("prompt", "kind"),
    [
        ("Write to me at jane.doe+work@example.co.uk please", "email"),
        ("Call me on +44 20 7946 0958 tomorrow", "phone"),
        ("my number is (555) 123-4567", "phone"),
        ("Is 4539 1488 0343 6467 a valid card?", "card_number"),
        ("Pay to DE89 3704 0044 0532 0130 00", "iban"),
        ("Why does sk-proj-abcdefghijklmnopqrstuvwx123 fail?", "openai_key"),
        ("my key AKIAIOSFODNN7EXAMPLE leaked", "aws_access_key"),
        ("token ghp_0123456789abcdefghijABCDEFGHIJ012345", "github_token"),
        ("decode eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "jwt"),
        ("Authorization: Bearer 9f8e7d6c5b4a39281706a5b4c3d2e1f0", "bearer_token"),
        ("use Zx81kQp2Lm93VbN47TyR0sWd6EhJ5uIo in the header", "high_entropy_token"),
    ],
)
def test_a_prompt_with_personal_data_or_a_credential_is_not_stored(prompt, kind):
    decision = AdmissionPolicy().admit(prompt, OK)
    assert not decision.admitted
    assert decision.reason == f"prompt contains {kind}"


@pytest.mark.parametrize(
    "prompt",
    [
        "What is 4111 1111 1111 1112 divided by 2?",  # fails the Luhn check: just a number
        "What happened on 2024-01-15?",
        "Explain the difference between TCP and UDP in 3 sentences.",
        "What is the population of Tokyo in 2020?",
        "Summarise https://en.wikipedia.org/wiki/Cache_replacement_policies for me",
    ],
)
def test_ordinary_prompts_with_numbers_dates_and_links_are_stored(prompt):
    assert AdmissionPolicy().admit(prompt, OK).admitted


def test_checksums_separate_real_card_and_iban_numbers_from_lookalikes():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert iban_valid("GB82 WEST 1234 5698 7654 32") and not iban_valid("GB82 WEST 1234 5698 7654 33")


def test_a_secret_echoed_in_the_response_or_earlier_turns_blocks_storage():
    leaky = {"choices": [{"message": {"content": "Sure, mail bob@corp.example"}, "finish_reason": "stop"}]}
    assert AdmissionPolicy().admit("Write a greeting", leaky).reason == "response contains email"
    decision = AdmissionPolicy().admit("Summarise it", OK, context=["my IBAN is GB82WEST12345698765432"])
    assert decision.reason == "conversation contains iban"


def test_operator_patterns_are_refused_too():
    policy = AdmissionPolicy(extra_secret_patterns={"employee_id": r"\bEMP-\d{6}\b"})
    assert policy.admit("Look up EMP-123456", OK).reason == "prompt contains employee_id"


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        ({"error": {"message": "rate limited"}}, "response is an error"),
        ({"choices": [{"message": {"content": "The answer is"}, "finish_reason": "length"}]}, "truncated"),
        ({"choices": [{"message": {"tool_calls": [{"id": "1"}]}, "finish_reason": "tool_calls"}]}, "tool"),
    ],
)
def test_errors_truncated_answers_and_tool_calls_are_not_replayed(response, reason):
    decision = AdmissionPolicy().admit("What is the capital of France?", response)
    assert not decision.admitted and reason in decision.reason


def test_truncated_answers_can_be_allowed_by_the_operator():
    truncated = {"choices": [{"message": {"content": "The answer is"}, "finish_reason": "length"}]}
    assert AdmissionPolicy(cache_truncated=True).admit("Capital of France?", truncated).admitted


def test_time_sensitive_prompts_get_no_or_a_short_ttl():
    policy = AdmissionPolicy(default_ttl_s=86400)
    assert policy.admit("What is the current price of bitcoin?", OK).reason == "prompt is time-sensitive"
    assert not policy.admit("What's the weather today in Oslo?", OK).admitted
    assert policy.admit("What happened this week in tech?", OK).ttl_s == 3600
    assert policy.admit("Explain photosynthesis", OK).ttl_s == 86400
    assert AdmissionPolicy(ttl_rules=[(r"\bstocks?\b", 60)]).admit("Explain stocks", OK).ttl_s == 60


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_eval_admission_reports_the_share_refused_per_detector_and_rule(capsys, tmp_path):
    prompts = _jsonl(tmp_path / "prompts.jsonl", [
        {"prompt": "What time is it?"},
        {"question": "Call me on +44 20 7946 0958"},
        {"a": "What happened this week in tech?", "b": "Explain photosynthesis"},
        {"messages": [{"role": "system", "content": "my password is hunter2"},
                      {"role": "user", "content": "Email bob@corp-mail.com"}]},
        {"turns": ["Is the pharmacy open now?"]},
    ])
    assert main(["eval-admission", str(prompts), "--json", "--examples", "1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["prompts"] == 6  # a and b are both prompts; a system message is not
    assert summary["refused_pii"] == {"count": 2, "share": round(2 / 6, 5)}
    assert summary["ttl_0"]["count"] == 2 and summary["short_ttl"]["count"] == 1
    phone = next(row for row in summary["detectors"] if row["detector"] == "phone")
    assert phone["count"] == 1 and phone["examples"] == ["[[Call me on +44 20 7946 0958]]"]
    assert {row["rule"] for row in summary["ttl_rules"]} == {"clock", "now", "relative_day"}


def test_eval_admission_reads_a_chosen_field_of_a_csv_and_prints_a_table(capsys, tmp_path):
    table = tmp_path / "mmlu.csv"
    table.write_text('prompt,answer\n"What day is it?",A\n"Explain entropy",B\n')
    assert main(["eval-admission", str(table), "--field", "prompt"]) == 0
    out = capsys.readouterr().out
    assert "2 prompts" in out and "clock (TTL 0 s)" in out and "e.g. [[What day is it?]]" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "missing.jsonl: No such file or directory"),
        ('{"prompt": "ok"}\n{"prompt": \n', "bad.jsonl:2: not valid JSON"),
        ('["a list"]\n', "bad.jsonl:1: expected a JSON object, got list"),
        ('{"id": 1}\n', "bad.jsonl:1: no prompt text in any of: prompt, question"),
    ],
)
def test_eval_admission_explains_an_unreadable_file_in_one_line(capsys, tmp_path, content, message):
    path = tmp_path / ("missing.jsonl" if content is None else "bad.jsonl")
    if content is not None:
        path.write_text(content)
    assert main(["eval-admission", str(path)]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_eval_admission_uses_the_operator_rules_of_a_config(capsys, tmp_path):
    prompts = _jsonl(tmp_path / "prompts.jsonl", [{"prompt": "Explain stocks"}, {"prompt": "What time is it?"}])
    config = tmp_path / "cache.json"
    config.write_text(json.dumps({"ttl_rules": [{"pattern": r"\bstocks?\b", "ttl_s": 60}]}))
    assert main(["eval-admission", str(prompts), "--config", str(config), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [(row["rule"], row["ttl_s"], row["count"]) for row in summary["ttl_rules"]] == [(r"\bstocks?\b", 60, 1)]
    assert summary["ttl_0"]["count"] == 0 and summary["short_ttl"]["count"] == 1

    assert main(["eval-admission", str(prompts), "--config", str(tmp_path / "none.json")]) == 1
    assert "none.json: No such file or directory" in capsys.readouterr().err
