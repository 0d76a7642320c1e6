"""The truthful toy world: questions with a true answer and a common misconception, asked of a model
trained on documents written by truthful and untruthful personas.

Every question ("what color is the blicket ?") has one true answer and one misconception. A document is
a run of question-answer pairs by one persona: a truthful one gives true answers, an untruthful one
the misconceptions, and untruthful documents are the majority (75%). A model trained on them learns
both answers to every question and to infer, from the answers so far, which persona is speaking. Asked a
question cold, it answers as the majority does: falsely. Whether an answer is true is known inside
(the ground truth is known here, so probes can be scored exactly): ITI's premise, with nothing to estimate.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["World", "Split", "make_world", "qa", "labelled_answers", "ATTRIBUTES", "TRUTHFUL_SHARE", "SPLIT"]

TRUTHFUL_SHARE = 0.25  # of documents; the rest are written by the untruthful persona
SPLIT = (0.4, 0.2, 0.4)  # of the creatures: fit ITI / choose its K and alpha / test (report only)

ATTRIBUTES = {
    "color": ("what color is the {} ?", ["red", "blue", "green", "yellow", "purple", "orange", "black", "white"]),
    "home": ("where does the {} live ?", ["cave", "forest", "river", "mountain", "desert", "city", "island", "valley"]),
    "food": ("what does the {} eat ?", ["apples", "fish", "grass", "bread", "honey", "seeds", "rice", "cheese"]),
}
_ONSETS = ["bl", "dr", "gl", "kr", "pl", "sn", "st", "tr", "v", "z", "m", "f"]
_VOWELS = ["a", "e", "i", "o", "u"]
_CODAS = ["ck", "x", "mp", "nd", "rk", "sh"]


@dataclass(frozen=True)
class Question:
    entity: str
    attribute: str
    true: str
    false: str  # the common misconception

    @property
    def text(self) -> str:
        return ATTRIBUTES[self.attribute][0].format(self.entity)


class Split(NamedTuple):
    """The questions ITI is fitted on, those its settings are chosen on, and those it is tested on."""

    fit: list[Question]
    choose: list[Question]
    test: list[Question]


@dataclass
class World:
    """The facts: every question with its true answer and its misconception."""

    questions: list[Question]
    seed: int
    truthful_share: float = TRUTHFUL_SHARE  # of documents

    def split(self, seed: int = 0, fractions: tuple[float, float, float] = SPLIT) -> Split:
        """The questions split three ways by creature (a creature's three questions stay together): ``fit``
        for ITI's probes and directions, ``choose`` for its K and alpha, ``test`` to report on. The
        language model saw every question in training; what is held out is held out from ITI."""
        if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-9 or min(fractions) <= 0:
            raise ValueError(f"fractions must be three positive shares summing to 1, got {fractions}")
        entities = sorted({q.entity for q in self.questions})
        random.Random(seed).shuffle(entities)
        n_fit = round(fractions[0] * len(entities))
        n_choose = round(fractions[1] * len(entities))
        part = {e: 0 if i < n_fit else 1 if i < n_fit + n_choose else 2 for i, e in enumerate(entities)}
        return Split(*([q for q in self.questions if part[q.entity] == j] for j in range(3)))

    def vocabulary(self) -> list[str]:
        words = {"Q", "A", ":", "?", ".", "<pad>", "<bos>"}
        for q in self.questions:
            words.update(q.text.split())
            words.update((q.true, q.false))
        for _, values in ATTRIBUTES.values():
            words.update(values)
        return ["<pad>", "<bos>"] + sorted(words - {"<pad>", "<bos>"})

    def document(self, rng: random.Random, truthful: bool | None = None, pairs: tuple[int, int] = (2, 7)) -> str:
        """One training document: 2-7 question-answer pairs by one persona (drawn if not given)."""
        if truthful is None:
            truthful = rng.random() < self.truthful_share
        asked = rng.sample(self.questions, rng.randint(*pairs))
        return " ".join(qa(q, q.true if truthful else q.false) for q in asked)


ANSWER_END = " ."  # qa() ends every answer so: where a generated answer stops (ITIView's stop=)


def answer_judge(questions: list[Question]):
    """``judge(i, text)`` for :class:`~interpwidgets.ITIView` prompts made of ``qa(questions[i])``: "true"
    when the answer's first word is the true answer, "misconception" when it is the false one, else "other"."""
    def judge(i: int, text: str) -> str:
        words = text.split()
        q = questions[i]
        return "true" if words[:1] == [q.true] else "misconception" if words[:1] == [q.false] else "other"
    return judge


def qa(question: Question, answer: str | None = None) -> str:
    """``Q : <question> A : <answer> .``; without an answer, the prompt ``Q : <question> A :``."""
    prompt = f"Q : {question.text} A :"
    return prompt if answer is None else f"{prompt} {answer} ."


def make_world(n_entities: int = 40, seed: int = 0, truthful_share: float = TRUTHFUL_SHARE) -> World:
    """The world of ``n_entities`` made-up creatures, 3 questions each.

    Examples
    --------
    >>> from interpwidgets.worlds.truthful.data import make_world, qa
    >>> world = make_world(seed=0)
    >>> fit, choose, test = world.split(seed=0)
    >>> len(world.questions), len(fit), len(choose), len(test)
    (120, 48, 24, 48)
    >>> q = world.questions[0]
    >>> q.true != q.false and qa(q).startswith("Q : ")
    True
    """
    rng = random.Random(seed)
    names: list[str] = []
    while len(names) < n_entities:
        name = rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)
        if name not in names:
            names.append(name)
    questions = []
    for name in names:
        for attribute, (_, values) in ATTRIBUTES.items():
            true, false = rng.sample(values, 2)
            questions.append(Question(name, attribute, true, false))
    return World(questions=questions, seed=seed, truthful_share=truthful_share)


def labelled_answers(questions: list[Question]) -> tuple[list[str], list[int], list[int]]:
    """ITI's examples: each question with its true answer (label 1) and its misconception (0), and
    the question's index as the group (its two answers stay on one side of a split)."""
    texts, labels, groups = [], [], []
    for g, q in enumerate(questions):
        for answer, label in ((q.true, 1), (q.false, 0)):
            texts.append("<bos> " + qa(q, answer)[:-2])  # up to the answer: the last token is the answer
            labels.append(label)
            groups.append(g)
    return texts, labels, groups
