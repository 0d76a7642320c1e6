"""ITIView: alpha, K and direction controls over side-by-side generations without and with the edit,
streamed token by token, and the truth / cross-entropy / KL curves with the current alpha marked."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

import torch
import traitlets

from ..capture.inputs import find_tokenizer, model_device
from ..generation import stream
from ..widgets import Widget
from ..widgets.jobs import Job
from .method import ITI
from .metrics import edit_costs

__all__ = ["ITIView"]


def _is_chat(prompt) -> bool:
    """A conversation: a list of {"role", "content"} messages."""
    return (isinstance(prompt, Sequence) and not isinstance(prompt, str) and len(prompt) > 0
            and all(isinstance(m, Mapping) and "role" in m and "content" in m for m in prompt))


class ITIView(Widget):
    """Generate with and without ITI as the sliders move; a moved slider cancels the stale generation.

    ``heads`` can be driven by a :class:`~interpwidgets.ProbeDashboard` (``ipywidgets.dlink((board,
    "top"), (view, "heads"))``): the heads selected there are the heads edited. Negative alphas are
    allowed (they push towards the other class).

    A prompt is a text, token ids, or a conversation (a list of ``{"role", "content"}`` messages: the
    tokenizer's chat template is applied with the assistant's turn opened, and the view shows the last
    message, the answer below it).

    ``stop`` ends each answer at a stop string (kept in the text; e.g. the world's ``" ."``), and
    ``judge(prompt_index, text)`` labels each answer ("true", "misconception", ...): the view marks
    them (:func:`interpwidgets.worlds.truthful.answer_judge` is the truthful world's).

    Examples
    --------
    >>> import torch, interpwidgets as iw
    >>> from transformers import GPT2Config, GPT2LMHeadModel
    >>> model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=50)).eval()
    >>> iti = iw.ITI.from_activations(torch.randn(100, 2, 4, 8), torch.arange(100) % 2, k=2)
    >>> view = iw.ITIView(model, None, iti, [[1, 2, 3]], max_new_tokens=4, background=False)
    >>> len(view.plain_tokens) == len(view.edited_tokens) == 4
    True
    """

    _bundle = "iti_view"

    alpha = traitlets.Float(15.0).tag(sync=True)
    k = traitlets.Int(8).tag(sync=True)
    kind = traitlets.Unicode("mass_mean").tag(sync=True)
    heads = traitlets.List([]).tag(sync=True)  # [[layer, head], ...] edited; set it to pick heads by hand
    n_heads_total = traitlets.Int(0).tag(sync=True)
    prompts = traitlets.List([]).tag(sync=True)
    prompt_index = traitlets.Int(0).tag(sync=True)
    max_new_tokens = traitlets.Int(24).tag(sync=True)
    plain_tokens = traitlets.List([]).tag(sync=True)  # generated without the edit
    edited_tokens = traitlets.List([]).tag(sync=True)  # with it, streamed
    generating = traitlets.Bool(False).tag(sync=True)
    generations = traitlets.Int(0).tag(sync=True)  # finished edited generations (cancelled ones do not count)
    verdicts = traitlets.Dict({}).tag(sync=True)  # {"plain": label, "edited": label} from judge=
    curves = traitlets.Dict({}).tag(sync=True)  # alpha, cross_entropy, kl, truth (lists); kind, heads measured

    def __init__(self, model, tokenizer, iti: ITI, prompts: Sequence, *, alpha: float = 15.0,
                 max_new_tokens: int = 24, stop: str | Sequence[str] | None = None,
                 judge: Callable[[int, str], str | None] | None = None, background: bool = True, **kwargs):
        if not prompts:
            raise ValueError("ITIView needs at least one prompt")
        self._model, self._iti = model, iti
        chats = [_is_chat(p) for p in prompts]
        self._tokenizer = (None if not any(chats) and all(not isinstance(p, str) for p in prompts)
                           else find_tokenizer(model, tokenizer))
        if any(chats) and not getattr(self._tokenizer, "chat_template", None):
            raise ValueError("chat prompts (lists of role/content messages) need a tokenizer with a chat template; "
                             f"{type(self._tokenizer).__name__} has none: give texts or token ids instead")
        self._stop = [stop] if isinstance(stop, str) else list(stop or [])
        if any(not isinstance(x, str) or not x for x in self._stop):
            raise ValueError(f"stop must be a non-empty string or a list of them, got {stop!r}")
        self._judge = judge
        self._lock = threading.Lock()  # one generation or sweep at a time touches the model's hooks
        # a conversation shows its last message, the answer on a line of its own
        shown = [p if isinstance(p, str) else f'{p[-1]["content"]}\n' if chat else " ".join(map(str, list(p)))
                 for p, chat in zip(prompts, chats, strict=True)]
        self._prompts = list(prompts)
        super().__init__(alpha=alpha, k=iti.k, kind=iti.kind, heads=[list(h) for h in iti.heads],
                         n_heads_total=iti.n_heads_total, prompts=shown, max_new_tokens=max_new_tokens, **kwargs)
        self._job = Job(self, "generation", background=background)
        self._live = True
        self._plain_cache: dict[tuple[int, int], list[str]] = {}
        self._regenerate()

    @property
    def iti(self) -> ITI:
        """The intervention as the controls set it now."""
        return self._iti

    # ------------------------------------------------------------------ controls
    @traitlets.observe("k", "kind")
    def _reselect(self, change) -> None:
        if not getattr(self, "_live", False) or getattr(self, "_syncing", False):
            return
        try:
            self._iti = self._iti.select(k=self.k, kind=self.kind)
        except ValueError as err:
            setattr(self, change["name"], change["old"])
            self._report("setting", err)
            return
        self._resolved("setting")
        self.heads = [list(h) for h in self._iti.heads]
        self._regenerate()

    @traitlets.observe("heads")
    def _pick(self, change) -> None:
        if not getattr(self, "_live", False) or [tuple(h) for h in change["new"]] == self._iti.heads:
            return
        try:
            self._iti = self._iti.select(kind=self.kind, heads=change["new"])
        except ValueError as err:
            self._report("setting", err)
            self.heads = change["old"]
            return
        self._resolved("setting")
        self._syncing = True  # K follows the hand-picked heads without re-ranking them
        try:
            self.k = len(self._iti.heads)
        finally:
            self._syncing = False
        self._regenerate()

    @traitlets.observe("alpha", "prompt_index", "max_new_tokens")
    def _moved(self, change) -> None:
        if getattr(self, "_live", False):
            if change["name"] == "prompt_index" and not 0 <= self.prompt_index < len(self.prompts):
                self.prompt_index = change["old"]
                self._report("setting", f"prompt_index must be between 0 and {len(self.prompts) - 1}")
                return
            self._resolved("setting")
            self._regenerate()

    # ------------------------------------------------------------------ generating
    def _ids(self) -> torch.Tensor:
        p = self._prompts[self.prompt_index]
        if _is_chat(p):  # the template's text carries its own special tokens
            text = self._tokenizer.apply_chat_template(list(p), tokenize=False, add_generation_prompt=True)
            ids = self._tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
        elif isinstance(p, str):
            ids = self._tokenizer(p, return_tensors="pt")["input_ids"]
        else:
            ids = torch.as_tensor([list(p)])
        return ids.to(model_device(self._model))

    def _generate(self, edited: bool, run, on_token: Callable[[list[str]], None]) -> list[str]:
        """Greedy generation, one token at a time (``interpwidgets.generation.stream``), so that each can be
        shown, a stop honoured, and the answer ended at a stop string."""
        def go():
            return stream(self._model, self._ids(), tokenizer=self._tokenizer, max_new_tokens=self.max_new_tokens,
                          stop=self._stop, on_tokens=on_token, check=run.check)

        if not edited:
            return go()
        with self._iti.apply(self._model, self.alpha):
            return go()

    def _judge_answers(self, plain: list[str], edited: list[str]) -> None:
        """Both answers' labels, once both are there; a judge that fails is reported as the judge's failure."""
        if self._judge is None:
            return
        try:
            self.verdicts = {"plain": self._judge(self.prompt_index, "".join(plain)),
                             "edited": self._judge(self.prompt_index, "".join(edited))}
        except Exception as err:
            self._report("judge", err)
            return
        self._resolved("judge")

    def _regenerate(self) -> None:
        """Generate for the current settings in the background; a generation under way is stopped (it is
        not waited for on this thread)."""

        def work(run):
            with self._lock:
                run.check()
                self.generating = True
                try:
                    key = (self.prompt_index, self.max_new_tokens)
                    if key not in self._plain_cache:
                        self._plain_cache[key] = self._generate(False, run, lambda t: None)
                    self.plain_tokens = self._plain_cache[key]
                    self.edited_tokens, self.verdicts = [], {}
                    tokens = self._generate(True, run, lambda t: setattr(self, "edited_tokens", t))
                    self.generations += 1
                finally:
                    self.generating = False
            self._judge_answers(self.plain_tokens, tokens)

        self._job.start(work)

    def wait(self, timeout: float | None = None) -> ITIView:
        """Block until the generation under way is done (for scripts and tests)."""
        self._job.wait(timeout)
        return self

    # ------------------------------------------------------------------ curves
    def sweep(self, alphas: Sequence[float], texts: Sequence, truth: Callable[[ITI, float], float] | None = None,
              progress: bool = True) -> dict:
        """Measure cross-entropy and KL on ``texts`` (and ``truth(iti, alpha)``, e.g. the share of true
        answers, when given) at each alpha, for the current heads and direction; the view plots them, and
        says so when the heads or the direction have changed since."""
        self.wait()
        with self._lock:
            curves = edit_costs(self._model, self._iti, texts, alphas, tokenizer=self._tokenizer, progress=progress)
            if truth is not None:
                curves["truth"] = [float(truth(self._iti, a)) for a in alphas]
        curves["kind"], curves["heads"] = self.kind, [list(h) for h in self._iti.heads]
        self.curves = curves
        return curves
