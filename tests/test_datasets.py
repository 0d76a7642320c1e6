"""The offline data sets: the misconceptions question set is whole, distinct and well formed."""

import interpwidgets as iw


def test_misconceptions_are_distinct_questions_with_two_different_answers():
    items = iw.datasets.misconceptions()
    assert len(items) == 181
    assert len({x["question"] for x in items}) == len(items)  # no question twice
    topics = {x["topic"] for x in items}
    assert topics == {"body", "animals", "history", "geography", "science", "food", "words", "tech", "money",
                      "nature"}
    for x in items:
        assert set(x) == {"topic", "question", "true", "false"}
        assert x["question"].endswith("?") and x["question"][0].isupper(), x["question"]
        assert x["true"] and x["false"] and x["true"] != x["false"], x["question"]
        assert "\t" not in "".join(x.values())
