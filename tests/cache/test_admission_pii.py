"""Personal data and credentials are never stored, wherever they appear; ordinary numbers and ids are."""

from __future__ import annotations

import pytest

from costroute_plugins.cache.admission import AdmissionPolicy, response_texts

OK = {"choices": [{"message": {"role": "assistant", "content": "Noted."}, "finish_reason": "stop"}]}


@pytest.mark.parametrize(
    ("prompt", "kind"),
    [
        ("Call our London office on +44 20 7946 0958", "phone"),
        ("The Berlin desk is +49 30 901820", "phone"),
        ("Paris: +33 1 23 45 67 89", "phone"),
        ("From abroad dial 0044 20 7946 0958", "phone"),
        ("Ring (020) 7946 0958 after six", "phone"),
        ("My E.164 number is +14155552671", "phone"),
        ("Support line 1-800-439-2178", "phone"),
        ("contact no:9449317138", "phone"),
        ("My SSN is 536-22-1234", "ssn"),
        ("her file lists 536 22 1234", "ssn"),
        ("SSN: 536221234", "ssn"),
        ("social security number 536221234, please update", "ssn"),
        ("password: hunter2", "password"),
        ("connect with pwd=xyz123", "password"),
        ("my password is Tr0ub4dor&3", "password"),
        ("the passcode 4821 opens the door", "password"),
        ("the password for my bank account is s3cret!", "password"),
        ('set password = "hunter" in the file', "password"),
        ("Authorization: Basic dXNlcjpzM2NyZXQ=", "basic_auth"),
        ("clone https://alice:s3cr3t@git.corp.io/repo.git", "url_credentials"),
        ("DATABASE_URL=postgres://app:Xk9pQ@10.0.0.3:5432/db", "url_credentials"),
        ("curl -H 'Authorization: Bearer abc123' ...", "bearer_token"),
        ("stripe.api_key = sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe_key"),
        ("restricted rk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe_key"),
        ("in tests we use sk_test_4eC39HqLyjWDarjtT1zdp7dc", "stripe_key"),
        ("post to https://hooks.slack.com/services/T0A1B2C3D/B0A1B2C3D/abcdefghijklmnopqrstuvwx", "webhook_url"),
        ("-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF...", "private_key"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----", "private_key"),
        ("wire it to de89 3704 0044 0532 0130 00 today", "iban"),
        ("iban gb82west12345698765432", "iban"),
        ("charge 4539 1488 0343 6467", "card_number"),
        ("token: e83c5163316f89bfbde7d9ab23ca2e25604af290", "credential"),
    ],
)
def test_a_prompt_with_personal_data_or_a_credential_is_not_stored(prompt, kind):
    assert AdmissionPolicy().admit(prompt, OK).reason == f"prompt contains {kind}"


@pytest.mark.parametrize(
    "prompt",
    [
        "Why does commit e83c5163316f89bfbde7d9ab23ca2e25604af290 break the build?",
        "Look up request 550e8400-e29b-41d4-a716-446655440000",
        "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "Compare $12.99, $1,299.00 and $2,499.00",
        "Prices: 12.99 15.99 19.99 1299.00",
        "The job ran at 2024-12-04T10:30:00Z",
        "Logged at 2024-12-04 10:30:00",
        "Convert the unix time 1733313600 (ms: 1733313600000) to a date",
        "Where is order 1234567890123?",
        "Order #123-456-7890 has not arrived",
        "Test with 4242 4242 4242 4242 or 4111 1111 1111 1111",
        "The publishable key pk_live_4eC39HqLyjWDarjtT1zdp7dc goes in the page",
        "Is de89 3704 0044 0532 0130 01 a valid IBAN?",  # fails the checksum
        "Is 000-12-3456 or 666-12-3456 or 912-12-3456 an SSN?",  # never issued
        "What is 123456789 times 3?",  # nine digits without SSN context
        "my password is wrong, how do I reset it?",
        "password: ******** (hidden)",
        "set password=${DB_PASSWORD} and password = os.environ['PW']",
        "Bearer tokens are sent in the header: Bearer YOUR_TOKEN",
        "The basic idea of Basic authentication",
        "Connect with postgres://user:password@localhost/db",
        "sort 10 20 30 40 50 60 70",
        "ISBN 9783110173327",
        "It fails with react__WEBPACK_IMPORTED_MODULE_0___default is not a function",
        "Call 911 and tell them phone numbers have 10 digits",
    ],
)
def test_ordinary_numbers_ids_and_documentation_examples_are_stored(prompt):
    assert AdmissionPolicy().admit(prompt, OK).admitted


SECRET = "my password is hunter2"


@pytest.mark.parametrize(
    "response",
    [
        {"choices": [{"message": {"content": "ok", "reasoning_content": SECRET}, "finish_reason": "stop"}]},
        {"choices": [{"message": {"content": None, "audio": {"id": "audio_1", "data": "UklGRg==",
                                                             "transcript": SECRET}}, "finish_reason": "stop"}]},
        {"output": [{"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": SECRET}]}]},
        {"output": [{"type": "message", "id": "msg_1", "role": "assistant",
                     "content": [{"type": "output_text", "text": SECRET, "annotations": []}]}]},
        {"type": "message", "content": [{"type": "thinking", "thinking": SECRET, "signature": "EqQBCgIYAh"}]},
        {"type": "message", "content": [{"type": "text", "text": SECRET}]},
        {"type": "message", "content": [{"type": "tool_use", "id": "toolu_1", "name": "login",
                                         "input": {"user": "bob", "credentials": {"note": SECRET}}}]},
    ],
    ids=["reasoning_content", "audio_transcript", "responses_summary", "responses_text", "anthropic_thinking",
         "anthropic_text", "anthropic_tool_input"],
)
def test_a_secret_in_any_generated_part_of_a_response_blocks_storage(response):
    assert AdmissionPolicy(cache_tool_calls=True).admit("Log me in", response).reason == "response contains password"


def test_ids_signatures_and_encrypted_reasoning_are_not_read_as_credentials():
    response = {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "content": [
            {"type": "thinking", "thinking": "The user wants a greeting.",
             "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds0Zk5Y2x7Lq9Rr8sT4Hn3PqW"},
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8c"},
            {"type": "text", "text": "Hello!"},
        ],
        "output": [{"type": "reasoning", "id": "rs_6820f383d7c08191846711c5df8233bc",
                    "encrypted_content": "gAAAAABoIPOD0q9W1cCkz0QoJ7lDq5Vx3Zk1YvPqT8sR2mNbH4jLwXe"}],
    }
    assert response_texts(response) == ["The user wants a greeting.", "Hello!"]
    assert AdmissionPolicy().admit("Say hello", response).admitted


def test_a_secret_in_an_earlier_assistant_tool_call_blocks_storage():
    earlier = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "connect", "arguments": '{"dsn": "postgres://app:Xk9pQ@10.0.0.3/db"}'}}]}
    decision = AdmissionPolicy().admit("Did it connect?", OK, context=["Connect to the db", earlier])
    assert decision.reason == "conversation contains url_credentials"


def test_an_operator_pattern_with_a_built_in_name_replaces_the_built_in():
    policy = AdmissionPolicy(extra_secret_patterns={"phone": r"\bext\. \d{3}\b"})
    assert policy.admit("Call +44 20 7946 0958", OK).admitted
    assert policy.admit("Ask for ext. 110", OK).reason == "prompt contains phone"
