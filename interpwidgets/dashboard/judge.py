"""A simple judge of replies: which value of an attribute a reply was written for, from its words.

A bag-of-words logistic regression (``iw.fit_probes`` on word-presence features): fitted on replies labelled
with the value they were written for (the personas world's ideal replies; a real model's own replies when it
was told the value), then used to tell what a steered reply leans towards. It reads words, not meaning: a
reply it has no words for is judged by the words it has, and it says how sure it is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..probes import ProbeResult, fit_probes

__all__ = ["ReplyJudge"]

_WORD = re.compile(r"[a-z0-9']+")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


@dataclass
class ReplyJudge:
    """Tells which of ``values`` a reply leans towards.

    Examples
    --------
    >>> from interpwidgets.dashboard.judge import ReplyJudge
    >>> judge = ReplyJudge.fit(["a cheap toy", "a cheap book", "a luxury toy", "a luxury watch"] * 5,
    ...                        ["low", "low", "high", "high"] * 5, values=("low", "high"))
    >>> judge.predict(["try a luxury book"])
    ['high']
    """

    values: tuple[str, ...]
    vocabulary: dict[str, int]
    probe: ProbeResult
    accuracy: float  # on the replies held out when it was fitted

    @classmethod
    def fit(cls, replies: Sequence[str], labels: Sequence[str], values: Sequence[str], *, l2: float = 1.0,
            val_frac: float = 0.25, seed: int = 0) -> ReplyJudge:
        values = tuple(values)
        bad = sorted({v for v in labels if v not in values})
        if bad:
            raise ValueError(f"labels {bad} are not among the values {list(values)}")
        if len(replies) != len(labels):
            raise ValueError(f"{len(replies)} replies but {len(labels)} labels: they must match")
        words = sorted(set().union(*map(_words, replies)))
        vocabulary = {w: i for i, w in enumerate(words)}
        y = torch.tensor([values.index(v) for v in labels])
        probe = fit_probes(cls._features(vocabulary, replies), y, l2=l2, val_frac=val_frac, seed=seed)
        if probe.classes.tolist() != list(range(len(values))):
            raise ValueError(f"every value needs labelled replies; got only "
                             f"{[values[i] for i in probe.classes.tolist()]} of {list(values)}")
        return cls(values, vocabulary, probe, float(probe.metrics["val_accuracy"]))

    @staticmethod
    def _features(vocabulary: dict[str, int], replies: Sequence[str]) -> torch.Tensor:
        X = torch.zeros(len(replies), len(vocabulary))
        for i, text in enumerate(replies):
            cols = [vocabulary[w] for w in _words(text) if w in vocabulary]
            X[i, cols] = 1.0
        return X

    def probabilities(self, replies: Sequence[str]) -> np.ndarray:
        """``[n, values]``: how sure the judge is of each value for each reply."""
        return self.probe.probabilities(self._features(self.vocabulary, replies)).numpy()

    def predict(self, replies: Sequence[str]) -> list[str]:
        return [self.values[i] for i in self.probabilities(replies).argmax(-1)]
