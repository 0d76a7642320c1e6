"""Inference-Time Intervention (Li et al. 2023): head-wise probes, the top-K heads, and a shift along
each head's truth direction at every generated token.

``ITI.fit`` reads ``layers.*.attn.head_out`` at the last token of labelled "question + answer" texts
(the engine's ``collect``), fits one logistic probe per layer x head (``iw.fit_probes``, split by
question), keeps the K heads with the best validation accuracy, and gives each a unit direction theta
(mass-mean shift, probe weights or random) and sigma, the standard deviation of the activations
projected on theta. ``iti.apply(model, alpha)`` edits ``head_out[head] += alpha * sigma * theta`` on
every selected head at the last position of every forward pass: the last prompt token, then each
generated token, as the paper's code does (``head_output[:, -1, head, :]``); ``positions="all"`` edits
every position instead (what the paper's code does when it measures cross-entropy and KL on plain text).

Following the paper's code, the mass-mean direction and sigma use every example given (the probes'
training and validation questions alike); the probe weights are fitted on the training part only.
Departure: the paper's code takes sigma over a second, unlabelled set of activations that includes the
questions it tests on; here sigma never sees anything but the examples ITI is fitted on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..capture import Add, collect, intervene, sites
from ..probes import ProbeResult, fit_probes, mass_mean_direction

__all__ = ["ITI", "DIRECTIONS", "POSITIONS"]

DIRECTIONS = ("mass_mean", "probe", "random")
POSITIONS = ("last", "all")


@dataclass(frozen=True)
class ITI:
    """A fitted intervention: probes over every head, and the K heads and directions to edit.

    ``select(k=..., kind=...)`` gives another choice from the same probes without refitting (what the
    widgets' sliders do). A negative ``alpha`` is allowed: it pushes the other way (towards false).

    Examples
    --------
    >>> import torch
    >>> from interpwidgets.iti import ITI
    >>> g = torch.Generator().manual_seed(0)
    >>> acts = torch.randn(200, 2, 4, 8, generator=g)   # [examples, layers, heads, d_head]
    >>> labels = torch.arange(200) % 2
    >>> acts[labels == 1, 1, 3, 0] += 3.0                 # layer 1, head 3 knows the truth
    >>> iti = ITI.from_activations(acts, labels, k=1)
    >>> iti.heads, int(iti.theta()[0].abs().argmax())   # the planted head and feature
    ([(1, 3)], 0)
    """

    probes: ProbeResult  # one probe per [layers, heads]
    directions: dict[str, torch.Tensor]  # kind -> [layers, heads, d_head], unit
    sigma: dict[str, torch.Tensor]  # kind -> [layers, heads]
    k: int
    kind: str = "mass_mean"
    stack: str = "layers."  # site prefix of the heads ("decoder.layers." for encoder-decoders)
    chosen: tuple[tuple[int, int], ...] | None = None  # heads picked by hand (e.g. in a ProbeDashboard)

    # ------------------------------------------------------------------ fitting
    @classmethod
    def from_activations(cls, activations, labels, *, groups=None, k: int = 48, kind: str = "mass_mean",
                         val_frac: float = 0.2, seed: int = 0, random_seed: int | None = None,
                         stack: str = "layers.", progress: bool | None = None) -> ITI:
        """Fit from ``[n, layers, heads, d_head]`` activations and true (1) / false (0) labels.

        ``seed`` draws the split and, unless ``random_seed`` is given, the random control directions
        (another ``random_seed`` gives other random directions for the same heads).
        """
        X = torch.as_tensor(np.asarray(activations) if not isinstance(activations, torch.Tensor) else activations)
        y = torch.as_tensor(np.asarray(labels)).long()
        if X.ndim != 4:
            raise ValueError(f"activations must be [examples, layers, heads, d_head], got shape {tuple(X.shape)}")
        if len(y) != len(X):
            raise ValueError(f"{len(X)} examples but {len(y)} labels: they must match")
        values = sorted(set(y.tolist()))
        if values != [0, 1]:
            raise ValueError(f"labels must hold both true (1) and false (0) examples; got only {values}"
                             if len(values) < 2 else f"labels must be 0 (false) or 1 (true); got {values}")
        _check_k(k, X.shape[1] * X.shape[2])
        _check_kind(kind)
        X = X.float()
        probes = fit_probes(X, y, groups=groups, val_frac=val_frac, seed=seed, progress=progress)
        directions = {"mass_mean": mass_mean_direction(X, y == 1), "probe": probes.direction("probe"),
                      "random": probes.direction("random", seed=seed if random_seed is None else random_seed)}
        sigma = {name: torch.einsum("nlhd,lhd->nlh", X, theta).std(0) for name, theta in directions.items()}
        probes.directions["mass_mean"] = directions["mass_mean"]
        return cls(probes=probes, directions=directions, sigma=sigma, k=k, kind=kind, stack=stack)

    @classmethod
    def fit(cls, model, texts: Sequence[str], labels, *, tokenizer=None, groups=None, k: int = 48,
            kind: str = "mass_mean", val_frac: float = 0.2, seed: int = 0, random_seed: int | None = None,
            batch_size: int = 16, progress: bool = True) -> ITI:
        """Collect every head's output at the last token of each text, then fit (see :meth:`from_activations`).

        ``groups`` (e.g. the question of each answer) keeps a question's answers on one side of the
        train/validation split.
        """
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels: they must match")
        acts, stack = cls.activations(model, texts, tokenizer=tokenizer, batch_size=batch_size, progress=progress)
        return cls.from_activations(acts, labels, groups=groups, k=k, kind=kind, val_frac=val_frac, seed=seed,
                                    random_seed=random_seed, stack=stack, progress=progress)

    @staticmethod
    def activations(model, texts: Sequence[str], *, tokenizer=None, batch_size: int = 16,
                    progress: bool = True) -> tuple[torch.Tensor, str]:
        """Every head's output at the last token of each text, ``[n, layers, heads, d_head]``, and the site
        prefix of those heads (``"layers."``; ``"decoder.layers."`` for an encoder-decoder). Collect once,
        then :meth:`from_activations` as often as needed (other seeds, other random draws)."""
        names = [n for n in sites(model) if n.endswith(".attn.head_out")]
        if not names:
            raise ValueError(f"{type(model).__name__}: the engine cannot read per-head outputs "
                             f"(no layers.*.attn.head_out site); iw.sites(model) lists what it offers")
        first = names[-1]  # decoder heads come last in an encoder-decoder: ITI edits what generates
        stack = first[:first.index("layers.") + 7]
        store = collect(model, list(texts), f"{stack}*.attn.head_out", tokenizer=tokenizer, batch_size=batch_size,
                        positions="last", progress=progress)
        acts = torch.stack([store[n] for n in sorted(store, key=lambda s: int(s[len(stack):].split(".")[0]))], 1)
        return acts, stack

    # ------------------------------------------------------------------ the choice
    def select(self, k: int | None = None, kind: str | None = None, heads=None) -> ITI:
        """The same probes with another K, direction kind, or hand-picked ``heads`` ([(layer, head), ...])."""
        kind = self.kind if kind is None else kind
        _check_kind(kind)
        if heads is not None:
            shape = self.probes.batch_shape
            heads = tuple((int(layer), int(head)) for layer, head in heads)
            bad = [h for h in heads if not (0 <= h[0] < shape[0] and 0 <= h[1] < shape[1])]
            if not heads or bad:
                raise ValueError(f"heads must be (layer, head) pairs within {shape[0]} x {shape[1]}; "
                                 f"got {bad or 'none'}")
            return replace(self, k=len(heads), kind=kind, chosen=heads)
        k = self.k if k is None else k
        _check_k(k, self.n_heads_total)
        return replace(self, k=k, kind=kind, chosen=None)

    @property
    def n_heads_total(self) -> int:
        return int(np.prod(self.probes.batch_shape))

    @property
    def heads(self) -> list[tuple[int, int]]:
        """The K (layer, head) pairs with the best validation accuracy, best first (or those chosen)."""
        return list(self.chosen) if self.chosen is not None else self.probes.top(self.k, "val_accuracy")

    def theta(self) -> torch.Tensor:
        """The unit directions of the selected heads, ``[K, d_head]`` (in the order of ``heads``)."""
        d = self.directions[self.kind]
        return torch.stack([d[layer, head] for layer, head in self.heads])

    def shifts(self) -> torch.Tensor:
        """sigma * theta per selected head, ``[K, d_head]``: what alpha multiplies."""
        s = self.sigma[self.kind]
        return torch.stack([s[layer, head] for layer, head in self.heads])[:, None] * self.theta()

    def edits(self, alpha: float, positions="last") -> dict[str, Add]:
        """The engine edits: one ``Add`` per layer with selected heads, at the last position of each forward
        call (``positions="last"``), at every position (``"all"``), or at the positions given (an index, as
        ``iw.Add`` takes: the multiple-choice scorer edits from an answer's first token on)."""
        if isinstance(positions, str) and positions not in POSITIONS:
            raise ValueError(f"positions must be one of {POSITIONS} or an index, got {positions!r}")
        by_layer: dict[int, list[int]] = {}
        for i, (layer, _) in enumerate(self.heads):
            by_layer.setdefault(layer, []).append(i)
        shifts, heads = self.shifts(), self.heads
        where = -1 if positions == "last" else None if positions == "all" else positions
        return {f"{self.stack}{layer}.attn.head_out": Add(shifts[rows], alpha=alpha, heads=[heads[i][1] for i in rows],
                                                          positions=where)
                for layer, rows in sorted(by_layer.items())}

    @contextmanager
    def apply(self, model, alpha: float = 15.0, positions="last") -> Iterator[None]:
        """Edit ``model`` inside the ``with`` block, every forward pass, generation included.

        ``positions="last"`` (the paper's generation edit) shifts the last position of each forward call:
        the prompt's last token, then each new token as it is generated. ``"all"`` shifts every position
        (the paper's code measures cross-entropy and KL on plain text that way). A batch of prompts should be
        padded on the left (as ``generate`` wants for decoder-only models), so that the last position is
        every prompt's last token.
        """
        with intervene(model, self.edits(alpha, positions)):
            yield

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        """Write a folder: the probes (safetensors), the directions and sigmas, and the settings (JSON)."""
        from safetensors.torch import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.probes.save(path / "probes.safetensors")
        tensors = {f"direction.{k}": v.contiguous() for k, v in self.directions.items()}
        tensors |= {f"sigma.{k}": v.contiguous() for k, v in self.sigma.items()}
        save_file(tensors, str(path / "directions.safetensors"))
        settings = {"format": "interpwidgets.ITI/1", "k": self.k, "kind": self.kind, "stack": self.stack,
                    "chosen": None if self.chosen is None else [list(h) for h in self.chosen]}
        (path / "iti.json").write_text(json.dumps(settings, indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> ITI:
        """Read a folder written by :meth:`save`."""
        from safetensors.torch import load_file

        path = Path(path)
        settings = json.loads((path / "iti.json").read_text())
        t = load_file(str(path / "directions.safetensors"))
        return cls(probes=ProbeResult.load(path / "probes.safetensors"),
                   directions={k[10:]: v for k, v in t.items() if k.startswith("direction.")},
                   sigma={k[6:]: v for k, v in t.items() if k.startswith("sigma.")},
                   k=settings["k"], kind=settings["kind"], stack=settings["stack"],
                   chosen=None if settings.get("chosen") is None else tuple(map(tuple, settings["chosen"])))


def _check_k(k: int, total: int) -> None:
    if not 1 <= k <= total:
        raise ValueError(f"k must be between 1 and the number of heads ({total}), got {k}")


def _check_kind(kind: str) -> None:
    if kind not in DIRECTIONS:
        raise ValueError(f"direction kind must be one of {DIRECTIONS}, got {kind!r}")
