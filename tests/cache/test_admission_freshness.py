"""Answers expire when the question asks about the present, not when a time word appears somewhere in it."""

from __future__ import annotations

import pytest

from costroute_plugins.cache.admission import DEFAULT_TTL_RULES, AdmissionPolicy
from costroute_plugins.cache.config import SemanticCacheConfig
from costroute_plugins.cache.freshness import ASK_CHARS, own_question

OK = {"choices": [{"message": {"role": "assistant", "content": "Sure."}, "finish_reason": "stop"}]}
DAY = 86400.0


def ttl(prompt: str, **settings) -> float | None:
    return AdmissionPolicy(default_ttl_s=DAY, **settings).ttl_for(prompt)


@pytest.mark.parametrize(
    "prompt",
    [
        "What time is it?",
        "what time is it in Tokyo",
        "what's the date today",
        "What day is it?",
        "Tell me the current time",
        "How many days until Christmas?",
        "What is the current price of bitcoin?",
        "bitcoin price right now?",
        "Where can I watch the live score of the match?",
        "What's Apple's stock price?",
        "What's the weather in Oslo today?",
        "Will it rain tomorrow in Paris?",
        "What's the latest news about the election?",
        "Breaking news from Kyiv",
        "Is the pharmacy on Main Street open now?",
        "Who is winning right now?",
    ],
)
def test_questions_about_the_present_are_never_cached(prompt):
    assert ttl(prompt) == 0
    assert AdmissionPolicy().admit(prompt, OK).reason == "prompt is time-sensitive"


@pytest.mark.parametrize(
    "prompt",
    [
        "What happened this week in tech?",
        "Any plans for tonight? Suggest a film",
        "Who won the game last night?",
        "What is the newest version of Flutter?",
        "Which upcoming elections matter most?",
    ],
)
def test_questions_about_today_or_recent_events_get_a_short_ttl(prompt):
    assert ttl(prompt) == 3600


@pytest.mark.parametrize(
    "prompt",
    [
        "Are people more likely to live in a colder climate if they are tall?",
        "Do you know the capital of Peru?",
        "Now that the build passes, how do I deploy it?",
        "From now on, answer in French. What is a monad?",
        "How many pens does Janet have now?",  # a state in the question's own story
        "Bill rode up 4 floors and down 2. What floor is Bill on now?",
        "What is the most recent common ancestor of birds and crocodiles?",
        "How do I get the current date in Python?",
        "What time is it best to exercise?",
        "What is the weather like in October in San Francisco?",
        "In today's society, is privacy still possible?",
        "If the current price of gas is $3 a gallon, what does a 12-gallon fill cost?",
        "What is the date of the Battle of Hastings?",
        "Explain the difference between weather and climate.",
    ],
)
def test_time_words_not_used_about_the_present_keep_the_default_ttl(prompt):
    assert ttl(prompt) == DAY


FEW_SHOT = (
    "The following are multiple choice questions (with answers) about current affairs.\n\n"
    "What is the latest news source people trust today?\nA. TV\nB. radio\nC. print\nD. none\nAnswer: A\n\n"
    "Which recent events moved markets right now?\nA. rates\nB. oil\nC. both\nD. neither\nAnswer: C\n\n"
    "{question}\nA. penguin\nB. live stream\nC. breaking news\nD. the weather today\nAnswer:"
)


def test_few_shot_examples_and_options_do_not_make_the_question_time_sensitive():
    assert ttl(FEW_SHOT.format(question="Which bird lives in a colder climate?")) == DAY


def test_the_final_question_of_a_few_shot_prompt_is_still_judged():
    assert ttl(FEW_SHOT.format(question="What time is it right now in Tokyo?")) == 0
    assert ttl("Q: What is 2+2?\nA: 4\n\nQ: What's the weather today in Rome?\nA:") == 0


@pytest.mark.parametrize(
    "prompt",
    [
        "Passage: Today the latest figures show live scores rising.\nWhat is the main idea?",
        "Context:\nBreaking news today: the stock price of ACME fell.\n\nWhat happened to ACME?",
        "Summarize the following article:\nBreaking news today: the stock price of ACME fell.",
        "Read the text below.\nLive stream tonight!\n\nWhat does the author want?",
        "Why does this fail?\n```python\nprint('what time is it now?')\n```",
        'Translate "what is the weather today?" into French',
        "> breaking news: live scores at 5\nWho wrote this line?",
        ("This question refers to the following information.\nThe latest news today is that the war began.\n"
         "From the passage, one may infer that\nA. it was sudden\nB. it was planned\nAnswer:"),
    ],
)
def test_quoted_code_and_passage_material_is_not_judged(prompt):
    assert ttl(prompt) == DAY


def test_the_request_own_question_keeps_the_stem_before_options_and_drops_the_rest():
    prompt = "Which is a weather phenomenon?\nA. live score\nB. rain today\nC. snow\nD. hail\nAnswer:"
    assert own_question(prompt) == "Which is a weather phenomenon?"


def test_a_long_paste_is_judged_on_its_start_and_end():
    filler = "The committee met and discussed the budget. " * 200
    report = f"{filler}Breaking news: the live score today. {filler}"
    assert ttl(f"Summarise this report.\n{report}\nKeep it short.") == DAY
    assert ttl("What time is it? " + "x " * 20_000) == 0
    assert len(own_question("word " * 100_000)) < 2 * ASK_CHARS + 10


def test_operator_rules_apply_to_the_request_own_question():
    rules = [(r"\bstocks?\b", 60.0)]
    assert ttl("Explain stocks", ttl_rules=rules) == 60
    assert ttl("What does this print?\n```\nprint('stocks')\n```", ttl_rules=rules) == DAY


def test_the_default_rules_are_the_config_default_and_each_has_a_name():
    config = SemanticCacheConfig.parse({})
    assert [(rule.pattern, rule.ttl_s) for rule in config.ttl_rules] == list(DEFAULT_TTL_RULES)
    policy = AdmissionPolicy(ttl_rules=[(rule.pattern, rule.ttl_s) for rule in config.ttl_rules])
    assert all(pattern.groupindex for pattern, _ttl in policy.ttl_rules)
    assert policy.ttl_for("What time is it?") == 0
