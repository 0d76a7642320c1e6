"""What an ITI edit costs (cross-entropy on plain text, KL divergence from the unedited model), and how it
scores answers (the log-likelihood of an answer after its question, for multiple-choice truth)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from contextlib import nullcontext

import numpy as np
import torch
from tqdm.auto import tqdm

from ..capture.inputs import batches, model_device

__all__ = ["edit_costs", "answer_log_likelihoods", "MultipleChoice"]


@torch.no_grad()
def edit_costs(model, iti, texts: Sequence[str], alphas: Sequence[float], *, positions: str = "all", tokenizer=None,
               batch_size: int = 16, progress: bool = True) -> dict[str, list[float]]:
    """Per alpha: the mean next-token cross-entropy on ``texts`` and the mean KL(unedited || edited) of
    the next-token distributions, over every real token position (ITI's two costs). ``texts`` are
    strings or tokenized rows (dicts with ``input_ids``).

    The edit shifts every position (``positions="all"``), as the paper's code does for these costs: plain
    text read under the edit the way a generated text is written under it, every token edited. Each
    batch's unedited run is compared with its edited runs at once and only sums are kept, so memory stays
    at one batch's logits whatever the number of texts.

    Examples
    --------
    >>> import torch
    >>> from transformers import GPT2Config, GPT2LMHeadModel
    >>> from interpwidgets.iti import ITI
    >>> from interpwidgets.iti.metrics import edit_costs
    >>> model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=50)).eval()
    >>> iti = ITI.from_activations(torch.randn(100, 2, 4, 8), torch.arange(100) % 2, k=2)
    >>> texts = [{"input_ids": list(range(1, 12))}, {"input_ids": [5, 6, 7]}]  # or strings, with a tokenizer
    >>> costs = edit_costs(model, iti, texts, [0.0, 10.0], progress=False)
    >>> costs["kl"][0], costs["kl"][1] > 0
    (0.0, True)
    """
    device = model_device(model)
    feed, n_batches, _ = batches(model, list(texts), batch_size, tokenizer)  # right-padded, with attention masks
    nll = torch.zeros(len(alphas), dtype=torch.float64)
    kl = torch.zeros(len(alphas), dtype=torch.float64)
    count = 0
    for batch in tqdm(feed, total=n_batches, desc="edit costs", disable=not progress):
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        target, keep = ids[:, 1:], mask[:, 1:].bool() & mask[:, :-1].bool()

        base = _log_probs(model, ids, mask)
        for i, alpha in enumerate(alphas):
            with iti.apply(model, alpha, positions=positions):
                edited = _log_probs(model, ids, mask)
            nll[i] += -edited.gather(-1, target[..., None])[..., 0][keep].sum().item()
            kl[i] += (base.exp() * (base - edited)).sum(-1)[keep].sum().item()
        count += int(keep.sum())
    return {"alpha": [float(a) for a in alphas], "cross_entropy": (nll / count).tolist(),
            "kl": (kl / count).clamp_min(0).tolist()}


def _log_probs(model, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return model(input_ids=ids, attention_mask=mask).logits[:, :-1].float().log_softmax(-1)


def answer_log_likelihoods(model, pairs: Sequence, iti=None, alpha: float = 0.0, *, tokenizer=None,
                           batch_size: int = 16, progress: bool = True) -> torch.Tensor:
    """The summed log-probability of each answer's tokens after its prompt: ``pairs`` of ``(prompt,
    answer)``, strings (with ``tokenizer``: the prompt with its special tokens, the answer tokenized on
    its own and appended, so give it its leading space) or token-id lists. Multiple choice compares these
    for a question's true and false answers (:class:`MultipleChoice` does it for whole question sets).

    With ``iti``, each pass is edited by ``alpha`` from the answer's first token on, the prompt read
    unedited, as the paper's multiple-choice code does (``start_edit_location``). So the answer's first
    token, predicted at the prompt's last position, scores as unedited. The paper reads one pair per pass;
    here ``batch_size`` pairs are read at once (prompts padded on the left, answers on the right, positions
    counted from each row's first real token), which gives the same numbers.

    Examples
    --------
    >>> import torch
    >>> from transformers import GPT2Config, GPT2LMHeadModel
    >>> model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=50)).eval()
    >>> ll = answer_log_likelihoods(model, [([1, 2, 3], [4, 5]), ([1, 2, 3], [6])], progress=False)
    >>> ll.shape, bool((ll < 0).all())
    (torch.Size([2]), True)
    """
    rows = [_token_ids(prompt, [answer], tokenizer, f"pair {i}") for i, (prompt, answer) in enumerate(pairs)]
    return _PairReader(model, [p for p, _ in rows], [a for _, (a,) in rows], batch_size, keep=False).read(
        iti, alpha, progress)


class MultipleChoice:
    """Questions with true and false answers, scored as TruthfulQA's multiple choice is: each answer's summed
    log-probability after its question's prompt (as :func:`answer_log_likelihoods`).

    ``mc1(iti, alpha)``: per question, whether the first true answer (the best one: TruthfulQA's MC1, and
    ``truthfulqa_questions`` puts it first) beats every false one; ``mc2(iti, alpha)``: the share of the
    answers' probability, normalised over the question's answers, that the true ones get. ``mc1`` is a
    judge for :func:`~interpwidgets.iti.evaluation.sweep`.
    ``per_token=True`` scores each answer by its mean log-probability per token instead (a departure from the
    paper, whose sum favours short answers: for question sets whose true answers run longer).

    The prompts are read once, unedited, and their key/value caches kept (``keep_prompts``); each call then
    reads only the answers on top of them, every answer position edited: the paper's edit (a full pass
    edited from the answer's first token on) without rereading the prompt for every answer and alpha. The
    caches cost memory, one prompt per answer: SmolLM2-135M keeps 46 kB per prompt token
    (``keep_prompts=False`` rereads the prompts on each call instead).

    Examples
    --------
    >>> import torch
    >>> from transformers import GPT2Config, GPT2LMHeadModel
    >>> model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=50)).eval()
    >>> mc = MultipleChoice(model, [[1, 2, 3], [4, 5]], true=[[[6]], [[7, 8]]], false=[[[9], [10]], [[11]]])
    >>> mc.mc1().shape, bool(((mc.mc2() > 0) & (mc.mc2() < 1)).all())
    ((2,), True)
    """

    def __init__(self, model, prompts: Sequence, true: Sequence[Sequence], false: Sequence[Sequence], *,
                 tokenizer=None, per_token: bool = False, batch_size: int = 16, keep_prompts: bool = True,
                 progress: bool = False):
        if not len(prompts) == len(true) == len(false):
            raise ValueError(f"one list of true and one of false answers per prompt: got {len(prompts)} prompts, "
                             f"{len(true)} true and {len(false)} false lists")
        self._progress = progress
        self._spans = []  # per question: (first answer's row, number of true answers, number of answers)
        row_prompts, row_answers = [], []
        for i, (prompt, yes, no) in enumerate(zip(prompts, true, false, strict=True)):
            if not len(yes) or not len(no):
                raise ValueError(f"question {i}: it needs at least one true and one false answer")
            prompt, answers = _token_ids(prompt, [*yes, *no], tokenizer, f"question {i}")
            self._spans.append((len(row_answers), len(yes), len(answers)))
            row_prompts += [prompt] * len(answers)
            row_answers += answers
        self._reader = _PairReader(model, row_prompts, row_answers, batch_size, keep=keep_prompts)
        self._lengths = torch.tensor([len(a) for a in row_answers], dtype=torch.float64) if per_token else None

    def __len__(self) -> int:
        return len(self._spans)

    def log_likelihoods(self, iti=None, alpha: float = 0.0) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per question, the true answers' and the false answers' summed log-probabilities (means per token
        with ``per_token``)."""
        ll = self._reader.read(iti, alpha, self._progress)
        if self._lengths is not None:
            ll = ll / self._lengths
        return [(ll[at:at + n_true], ll[at + n_true:at + n]) for at, n_true, n in self._spans]

    def mc1(self, iti=None, alpha: float = 0.0) -> np.ndarray:
        """Per question: does the first (best) true answer beat every false one? (The other true answers
        count only in :meth:`mc2`.)"""
        return np.array([bool(yes[0] > no.max()) for yes, no in self.log_likelihoods(iti, alpha)])

    def mc2(self, iti=None, alpha: float = 0.0) -> np.ndarray:
        """Per question: the true answers' share of the probability over all its answers."""
        return np.array([float(torch.cat([yes, no]).softmax(0)[:len(yes)].sum())
                         for yes, no in self.log_likelihoods(iti, alpha)])


def _token_ids(prompt, answers: Sequence, tokenizer, what: str) -> tuple[list[int], list[list[int]]]:
    """The prompt with its special tokens, each answer tokenized on its own (without them)."""
    if isinstance(prompt, str) or any(isinstance(a, str) for a in answers):
        if tokenizer is None:
            raise ValueError("text prompts and answers need a tokenizer= (or give token-id lists)")
        prompt = tokenizer(prompt)["input_ids"] if isinstance(prompt, str) else prompt
        answers = [tokenizer(a, add_special_tokens=False)["input_ids"] if isinstance(a, str) else a for a in answers]
    prompt, answers = [int(t) for t in prompt], [[int(t) for t in a] for a in answers]
    if not prompt or not all(answers):
        raise ValueError(f"{what}: the prompt and every answer need at least one token each")
    return prompt, answers


class _PairReader:
    """Scores (prompt, answer) rows in batches: each batch's prompts read once, unedited, padded on the left
    (so every prompt ends at the last column), then its answers, padded on the right, read on the prompts'
    cache under the edit. Positions count from each row's first real token, so padding changes nothing."""

    def __init__(self, model, prompts: list[list[int]], answers: list[list[int]], batch_size: int, keep: bool):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model, self.prompts, self.answers, self.keep = model, prompts, answers, keep
        self.device = model_device(model)
        # transformers renamed the argument (past_key_values -> cache, 5.x); take whichever this forward has
        self.cache_arg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        self.batches = [range(i, min(i + batch_size, len(prompts))) for i in range(0, len(prompts), batch_size)]
        self.states: dict[int, tuple] = {}

    def read(self, iti, alpha: float, progress: bool) -> torch.Tensor:
        out = torch.empty(len(self.prompts), dtype=torch.float64)
        for b, rows in enumerate(tqdm(self.batches, desc="answers", disable=not progress)):
            state = self.states.pop(b, None) or self._read_prompts(rows)
            out[rows.start:rows.stop] = self._read_answers(state, rows, iti, alpha)
            if self.keep:  # kept once the answers were read (a failed pass may leave the cache longer)
                self.states[b] = state
        return out

    def _pad(self, seqs: list[list[int]], left: bool) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(map(len, seqs))
        ids = torch.zeros(len(seqs), width, dtype=torch.long)
        mask = torch.zeros(len(seqs), width, dtype=torch.long)
        for i, s in enumerate(seqs):
            cols = slice(width - len(s), width) if left else slice(0, len(s))
            ids[i, cols], mask[i, cols] = torch.tensor(s), 1
        return ids.to(self.device), mask.to(self.device)

    @torch.no_grad()
    def _read_prompts(self, rows: range) -> tuple:
        """The unedited prompts' cache, their attention mask, and each last position's log-probabilities."""
        ids, mask = self._pad([self.prompts[r] for r in rows], left=True)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(1) - 1).clamp_min(0),
                         use_cache=True)
        cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
        if cache is None or not hasattr(cache, "crop"):
            raise ValueError(f"{type(self.model).__name__} returns no key/value cache: answer scoring needs a "
                             f"causal LM that keeps one (use_cache=True)")
        return cache, mask, out.logits[:, -1].float().log_softmax(-1)

    @torch.no_grad()
    def _read_answers(self, state: tuple, rows: range, iti, alpha: float) -> torch.Tensor:
        """Each answer's summed log-probability, every answer position edited; the cache is cut back to the
        prompts afterwards, so the state can be read again."""
        cache, prompt_mask, first = state
        ids, mask = self._pad([self.answers[r] for r in rows], left=False)
        positions = prompt_mask.sum(1, keepdim=True) + torch.arange(ids.shape[1], device=ids.device)
        with nullcontext() if iti is None or alpha == 0 else iti.apply(self.model, alpha, positions="all"):
            logits = self.model(input_ids=ids, attention_mask=torch.cat([prompt_mask, mask], 1),
                                position_ids=positions, use_cache=True, **{self.cache_arg: cache}).logits
        cache.crop(-ids.shape[1])  # a negative count removes that many tokens (every 5.x version)
        lp = torch.cat([first[:, None], logits[:, :-1].float().log_softmax(-1)], 1)
        return (lp.gather(-1, ids[..., None])[..., 0] * mask).sum(1).double().cpu()
