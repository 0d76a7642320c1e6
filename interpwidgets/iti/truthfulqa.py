"""TruthfulQA as ITI's labelled examples, for users who have the data (nothing is downloaded here).

Two layouts are read: the published ``TruthfulQA.csv`` (columns ``Question``, ``Best Answer``,
``Correct Answers``, ``Incorrect Answers``; answers separated by ``"; "``) and the ``datasets`` layout
of ``truthful_qa``'s ``generation`` configuration (``question``, ``best_answer``, ``correct_answers``,
``incorrect_answers`` as lists), as a ``datasets.Dataset`` or a list of dicts.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["truthfulqa_examples", "truthfulqa_questions"]

TEMPLATE = "Q: {question} A: {answer}"  # ITI's format


def truthfulqa_examples(source, template: str = TEMPLATE) -> tuple[list[str], list[int], list[int]]:
    """Every (question, answer) pair as a text, its label (1 true, 0 false) and its question's index.

    The question index goes to ``ITI.fit(..., groups=)`` so that a question's answers stay on one side
    of the train/validation split.

    Examples
    --------
    >>> from interpwidgets.iti.truthfulqa import truthfulqa_examples
    >>> rows = [{"question": "Is the Earth flat?", "best_answer": "No", "correct_answers": ["No", "It is round"],
    ...          "incorrect_answers": ["Yes"]}]
    >>> texts, labels, groups = truthfulqa_examples(rows)
    >>> texts[0], labels, groups
    ('Q: Is the Earth flat? A: No', [1, 1, 0], [0, 0, 0])
    """
    rows = truthfulqa_questions(source)
    texts, labels, groups = [], [], []
    for g, row in enumerate(rows):
        for answer, label in [(a, 1) for a in row["correct"]] + [(a, 0) for a in row["incorrect"]]:
            texts.append(template.format(question=row["question"], answer=answer))
            labels.append(label)
            groups.append(g)
    if not texts:
        raise ValueError("no question-answer pairs found in the TruthfulQA source")
    return texts, labels, groups


def truthfulqa_questions(source) -> list[dict]:
    """Every question with its true and its false answers, ``{"question", "correct", "incorrect"}``, the best
    answer first among the true ones: what :class:`~interpwidgets.iti.metrics.MultipleChoice` scores (MC1:
    ``correct[0]`` against every false answer; MC2: all of them). Rows in this layout are read as they are
    (so a subset of questions can go to :func:`truthfulqa_examples`).

    >>> rows = [{"question": "Is the Earth flat?", "best_answer": "No, it is round", "correct_answers": ["No"],
    ...          "incorrect_answers": ["Yes"]}]
    >>> truthfulqa_questions(rows)
    [{'question': 'Is the Earth flat?', 'correct': ['No, it is round', 'No'], 'incorrect': ['Yes']}]
    """
    if isinstance(source, str | os.PathLike):
        with open(Path(source), newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = {"Question", "Correct Answers", "Incorrect Answers"} - set(reader.fieldnames or [])
            if missing:
                raise ValueError(f"{source} is not TruthfulQA.csv: columns {sorted(missing)} are missing "
                                 f"(found {reader.fieldnames})")
            return [{"question": r["Question"], "correct": _answers(r["Correct Answers"], r.get("Best Answer")),
                     "incorrect": _answers(r["Incorrect Answers"])} for r in reader]
    if isinstance(source, Iterable):
        out = []
        for r in source:
            if isinstance(r, Mapping) and {"question", "correct", "incorrect"} <= set(r):  # this function's own
                out.append({key: r[key] if key == "question" else list(r[key])
                            for key in ("question", "correct", "incorrect")})
                continue
            if not isinstance(r, Mapping) or not {"question", "correct_answers", "incorrect_answers"} <= set(r):
                raise ValueError("rows must be dicts with question, correct_answers and incorrect_answers "
                                 "(truthful_qa's generation layout), or question, correct and incorrect")
            correct = _best_first(list(r["correct_answers"]), r.get("best_answer"))
            out.append({"question": r["question"], "correct": correct, "incorrect": list(r["incorrect_answers"])})
        return out
    raise TypeError(f"TruthfulQA comes as a path to TruthfulQA.csv, a datasets.Dataset or a list of dicts; "
                    f"got {type(source).__name__}")


def _answers(cell: str, best: str | None = None) -> list[str]:
    return _best_first([a.strip() for a in cell.split(";") if a.strip()], best and best.strip())


def _best_first(answers: list[str], best: str | None) -> list[str]:
    return [best, *(a for a in answers if a != best)] if best else answers
