"""The offline data sets: the misconceptions question set is whole, distinct and well formed."""

import re
from collections import Counter

import interpwidgets as iw

# Words that soften a claim: if they sat mainly in the true answers, a summed log-likelihood would judge
# the two answers of a pair on their tone rather than on their truth.
HEDGES = ("usually", "often", "mostly", "about", "roughly", "generally", "typically", "can", "may")


def test_misconceptions_are_distinct_questions_with_two_different_answers():
    items = iw.datasets.misconceptions()
    assert len(items) == 298
    assert len({x["question"] for x in items}) == len(items)  # no question twice
    topics = {x["topic"] for x in items}
    assert topics == {"body", "animals", "history", "geography", "science", "food", "words", "tech", "money",
                      "nature"}
    for x in items:
        assert set(x) == {"topic", "question", "true", "false"}
        assert x["question"].endswith("?") and x["question"][0].isupper(), x["question"]
        assert x["true"] and x["false"] and x["true"] != x["false"], x["question"]
        assert "\t" not in "".join(x.values())


def check_answers_match_in_form(items):
    """Assert that no pair's true and false answer differ in length or hedging (rule in the docstring)."""
    words = [(len(x["true"].split()), len(x["false"].split())) for x in items]
    for x, (t, f) in zip(items, words, strict=True):
        assert abs(t - f) <= 2, (x["question"], t, f)
    differ = [t > f for t, f in words if t != f]
    assert 0.4 <= sum(differ) / len(differ) <= 0.6, sum(differ) / len(differ)
    mean_true = sum(t for t, _ in words) / len(words)
    mean_false = sum(f for _, f in words) / len(words)
    assert abs(mean_true - mean_false) <= 0.5, (mean_true, mean_false)
    counts = {side: Counter(w for x in items for w in re.findall(r"[a-z]+", x[side].lower()))
              for side in ("true", "false")}
    for h in HEDGES:
        assert counts["true"][h] <= 1.5 * counts["false"][h], (h, counts["true"][h], counts["false"][h])


def test_the_two_answers_of_a_pair_match_in_form():
    check_answers_match_in_form(iw.datasets.misconceptions())
