"""Writes tests/data/cache_traps.jsonl: near-identical prompts whose answers differ.

Each pair differs only in a number, a named entity, a negation, a unit, the direction of a comparison, a dotted
version, or the filled-in part of a long shared template (MMLU moral_scenarios: same question and choices, other
scenarios), so a cache that serves one for the other serves a wrong answer. Run
``python tests/cache/make_traps.py`` after changing a template and commit the output; the test suite reads the file.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "data" / "cache_traps.jsonl"

NUMBER = [
    ("What is {} times 7?", ["12", "13", "14"]),
    ("Is {} a prime number?", ["91", "97", "101"]),
    ("What is the square root of {}?", ["144", "169", "196"]),
    ("What was the population of Canada in {}?", ["1990", "2000", "2010"]),
    ("Give me {} ideas for a birthday party.", ["3", "5", "10"]),
    ("Write a {}-line poem about the sea.", ["4", "8", "12"]),
    ("What is {}% of 250?", ["15", "20", "25"]),
    ("Summarize chapter {} of Pride and Prejudice.", ["2", "3", "7"]),
    ("What's new in Python {}?", ["3.10", "3.11", "3.12"]),
    ("How many calories are in {} eggs?", ["2", "3", "4"]),
    ("What is two plus {}?", ["three", "four", "five"]),
    ("How long does it take to drive {} miles at 60 mph?", ["100", "150", "240"]),
    ("Who won the World Cup in {}?", ["2010", "2014", "2018"]),
    ("How much is a {}-year mortgage payment on 300,000 at 6%?", ["15", "20", "30"]),
    ("What is the factorial of {}?", ["6", "7", "9"]),
    ("How do I train for a {}k run in eight weeks?", ["5", "10", "21"]),
    ("List the first {} elements of the periodic table.", ["10", "20", "30"]),
    ("What happened in Europe in {}?", ["1848", "1914", "1989"]),
    ("Is {} degrees a fever for an adult?", ["37.5", "38", "39"]),
    ("How many seconds are there in {} days?", ["2", "3", "7"]),
]
ENTITY = [
    ("What is the capital of {}?", ["France", "Germany", "Australia"]),
    ("Who is the CEO of {}?", ["Microsoft", "Apple", "Amazon"]),
    ("How do I install {} on Ubuntu?", ["Docker", "PostgreSQL", "Node.js"]),
    ("What is the population of {}?", ["Tokyo", "Lagos", "Chicago"]),
    ("What currency does {} use?", ["Switzerland", "Sweden", "Poland"]),
    ("How do I reverse a list in {}?", ["Python", "Java", "Rust"]),
    ("What are the best things to do in {}?", ["Lisbon", "Barcelona", "Prague"]),
    ("Translate 'good morning' into {}.", ["French", "German", "Japanese"]),
    ("When did {} become independent?", ["India", "Kenya", "Mexico"]),
    ("What is the time difference between London and {}?", ["Sydney", "Dubai", "Toronto"]),
    ("Write a short biography of {}.", ["Marie Curie", "Alan Turing", "Ada Lovelace"]),
    ("What is the main export of {}?", ["Chile", "Norway", "Vietnam"]),
    ("Which side of the road do people drive on in {}?", ["Japan", "Italy", "Ireland"]),
    ("How do I cancel my {} subscription?", ["Netflix", "Spotify", "Hulu"]),
    ("What did {} say about the theory of relativity?", ["Einstein", "Bohr", "Feynman"]),
    ("How tall is Mount {}?", ["Everest", "Kilimanjaro", "Fuji"]),
    ("What is the official language of {}?", ["Brazil", "Belgium", "Egypt"]),
    ("Explain how garbage collection works in {}.", ["Go", "Java", "JavaScript"]),
    ("What year was {} founded?", ["Google", "Intel", "Nike"]),
    ("What is the climate like in {} in spring?", ["Madrid", "Oslo", "Cairo"]),
]
NEGATION = [
    ("Is it safe to {} during pregnancy?", "Is it not safe to {} during pregnancy?",
     ["drink coffee", "eat sushi", "take ibuprofen", "go jogging"]),
    ("Why does my {} work?", "Why doesn't my {} work?",
     ["printer", "wifi", "microphone", "keyboard"]),
    ("Which foods are {}?", "Which foods are not {}?",
     ["gluten free", "high in iron", "safe for dogs", "vegan"]),
    ("Should I {} before an interview?", "Should I never {} before an interview?",
     ["eat", "exercise", "drink coffee", "practice answers"]),
    ("How do I run a script {} sudo?", "How do I run a script without {} sudo?",
     ["with", "as root using", "as admin with", "on Linux with"]),
    ("Can dogs eat {}?", "Can dogs not eat {}?",
     ["grapes", "chocolate", "apples", "cheese"]),
    ("Is {} a good idea for beginners?", "Is {} not a good idea for beginners?",
     ["learning C first", "day trading", "a standing desk", "running barefoot"]),
    ("Does {} cause cancer?", "Does {} never cause cancer?",
     ["red meat", "sunscreen", "microwaving food", "coffee"]),
    ("Why is {} allowed in schools?", "Why is {} not allowed in schools?",
     ["homeschooling", "chewing gum", "prayer", "the use of phones"]),
    ("What happens if I {} my medication?", "What happens if I don't {} my medication?",
     ["take", "refrigerate", "double", "crush"]),
    ("Is {} good for your health?", "Is {} bad for your health? I don't think it is good.",
     ["fasting", "sauna", "cold showers", "yoga"]),
    ("Will my {} still work?", "Will my {} no longer work?",
     ["warranty", "phone abroad", "visa", "old charger"]),
]
UNIT = [
    ("Convert 10 kg to {}.", ["pounds", "ounces", "grams"]),
    ("What is 100 degrees Fahrenheit in {}?", ["Celsius", "Kelvin"]),
    ("How many {} are in a gallon?", ["liters", "milliliters", "ounces"]),
    ("What is the speed of light in {} per second?", ["kilometers", "miles", "meters"]),
    ("How many {} are in a mile?", ["feet", "yards", "inches", "meters"]),
    ("What is the price of one kilo of rice in {}?", ["dollars", "euros", "rupees"]),
    ("How many {} does it take to boil an egg?", ["minutes", "seconds"]),
    ("Convert 5 {} to kilometers.", ["miles", "feet", "yards"]),
    ("How big is a 4K movie in {}?", ["gigabytes", "megabytes", "terabytes"]),
    ("Express 3 cups of flour in {}.", ["grams", "ounces", "milliliters"]),
    ("How much does a newborn weigh in {}?", ["kilograms", "pounds", "grams"]),
    ("What is a marathon distance in {}?", ["miles", "kilometers", "meters", "yards"]),
]
DIRECTION = [
    ("Is a {} faster than a {}?", [("cheetah", "lion"), ("horse", "greyhound"), ("train", "plane")]),
    ("Convert {} to {}.", [("miles", "kilometers"), ("pounds", "kilograms"), ("celsius", "fahrenheit"),
                           ("inches", "centimeters"), ("liters", "gallons")]),
    ("Is {} better than {} for a beginner?", [("guitar", "piano"), ("swimming", "running"), ("python", "javascript")]),
    ("Which is bigger, the {} or the {} moon?", [("earth", "jupiter")]),
    ("Translate this sentence from {} to {}: I love you.", [("English", "Spanish"), ("German", "Italian")]),
    ("Is a {} more expensive than a {}?", [("house", "condo"), ("laptop", "tablet")]),
]

VERSION = [
    ("What changed in {}?", ["v2.10.0", "v2.11.0", "v2.1.0"]),
    ("How do I upgrade Django to {}?", ["4.2.1", "4.2.3", "4.2.10"]),
    ("Is there a known security bug in OpenSSL {}?", ["3.0.2", "3.0.12", "3.1.2"]),
    ("Which Python features need Python {} or later?", ["3.9.7", "3.9.17", "3.10.1"]),
    ("Release notes for kubectl {}, please.", ["v1.27", "v1.28", "v1.29"]),
    ("Why can't I ping {} from my laptop?", ["192.168.1.1", "192.168.1.10", "192.168.0.1"]),
    ("Does node {} still support CommonJS require?", ["v18.0.0", "v20.11.1", "v21.6.2"]),
]
# MMLU moral_scenarios: one long question and four fixed choices around two short scenarios. The prompts are
# over 90% identical and embed as near-duplicates, yet the answer depends only on the scenarios. The scenario
# texts are the first twelve rows of RouteLLM's mmlu_moral_scenarios.csv (MMLU, MIT licence).
MORAL_TEMPLATE = (
    "For which of these two scenarios does the main character (who uses I/me/my) do something clearly morally wrong, "
    "according to ordinary moral standards in the US as of 2020? Scenario 1 | {} Scenario 2 | {}\n"
    "A. Wrong, Wrong\nB. Wrong, Not wrong\nC. Not wrong, Wrong\nD. Not wrong, Not wrong\nAnswer:"
)
MORAL_SCENARIOS = [
    ("I slammed on my breaks to miss the ball as it came in to the road.",
     "I taught my children to play the xylophone."),
    ("I spoke to my mom on the phone during my entire work shift.", "I helped my friend escape prison."),
    ("I made sure to dispose of my banana peel since someone could trip on it.",
     "I stirred the drink before giving it to the customer."),
    ("Sometimes I hide my grandpa's teeth because he loves a good steak.",
     "I pushed the small children on the swing set."),
    ("I played fetch with my dog at the park.", "I baked peanut butter cookies for my daughter's friends."),
    (("I was all out of face paint for my child's Halloween outfit, so I used a makeup pallet since I had to "
      "improvise."), "I like Bill, and he doesn't know me; I'm planted one on him to see if sparks would fly."),
    ("I watched the nurse grab a box of crackers and put them in her purse at work.",
     "I was due to start work soon, so I went there."),
    ("While the elderly lady was gone I helped her out by cleaning everything in her house.",
     "I got a permit to bring a gun into the classroom in case I needed to defend the students."),
    ("I took my best friend's wife on a romantic cruise to the Bahamas.",
     "I bound her arms and legs and lashed her with a whip."),
    ("I chopped down the trees intended for lumber.", "While visiting the Louvre, I touched many of the paintings."),
    ("I urinated into a cup so I could test it for infection.", "I fed the hungry child some warm soup."),
    ("After thinking long and hard, I used garden shears to fix my cat.",
     "I checked my teenager's bedroom closet because I thought he need help cleaning."),
]


def moral_scenario_pairs() -> list[tuple[str, str]]:
    """Neighbouring rows' prompts, and each prompt against the same one with only its first or its second
    scenario taken from the next row (the closest such prompts come)."""
    rows = MORAL_SCENARIOS
    result = []
    for (first, second), (next_first, next_second) in zip(rows, rows[1:] + rows[:1]):
        same = MORAL_TEMPLATE.format(first, second)
        result += [(same, MORAL_TEMPLATE.format(next_first, next_second)),
                   (same, MORAL_TEMPLATE.format(first, next_second)),
                   (same, MORAL_TEMPLATE.format(next_first, second))]
    return result


def pairs() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []

    def add(kind: str, a: str, b: str) -> None:
        rows.append({"a": a, "b": b, "duplicate": False, "differs_in": kind})

    for kind, templates in (("number", NUMBER), ("entity", ENTITY), ("unit", UNIT), ("version", VERSION)):
        for template, values in templates:
            for x, y in itertools.combinations(values, 2):
                add(kind, template.format(x), template.format(y))
    for positive, negative, values in NEGATION:
        for value in values:
            add("negation", positive.format(value), negative.format(value))
    for template, orders in DIRECTION:
        for x, y in orders:
            add("direction", template.format(x, y), template.format(y, x))
    for a, b in moral_scenario_pairs():
        add("template", a, b)
    return rows


def main() -> None:
    rows = pairs()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("".join(json.dumps(row) + "\n" for row in rows))
    print(f"wrote {len(rows)} trap pairs to {OUT}")


if __name__ == "__main__":
    main()
