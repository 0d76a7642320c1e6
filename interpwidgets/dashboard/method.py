"""The user model and the system model of a chat LM (Viégas & Wattenberg 2023; TalkTuner, Chen et al. 2024):
probes that read what the model believes about the user and about itself, and pins that steer it.

For each attribute (``Attribute("age", ("child", ...))``) two kinds of logistic probe are fitted per layer on
``layers.*.resid_post`` (the engine's ``collect``, ``iw.fit_probes`` batched over layers):

- the **reading** probe reads the last token after TalkTuner's phrase ("I think the age of this user is")
  appended where the assistant's reply begins;
- the **control** probe reads the last token of the conversation (the assistant's turn opened: where a reply
  starts). Its direction is what a pin adds.

A readout is the chosen layer's softmax over the attribute's values (the layer with the best accuracy on the
conversations held out for choosing; overridable). A pin ``(value, N)`` adds ``N * d`` to the residual stream
of a band of middle layers at the last position of every forward call (the prompt's last token, then every
generated token: TalkTuner's ``output[0][:, -1]``), ``d`` being the control probe's direction for the value at
that layer. A random direction of the same norm is the control.

Departures from TalkTuner's code, marked: its probes are one-vs-rest sigmoids trained by Adam for 50 epochs
(the checkpoint with the best test accuracy kept); ours are multinomial logistic regressions solved exactly,
the layer chosen on a held-out choose split, never on the test split. Its pin adds ``N x`` the raw weight row
(so that N's scale depends on how the probe was trained; N = 7-8 on Llama-2-13B); ours adds ``N x w / |w|^2``
with ``w`` the value's weight column minus the mean column: N is the shift of the value's logit (against the
mean of the values') that the pin makes in that layer's probe, a scale that means the same in every model.
Its band (decoder layers 19-28 of 40) becomes :func:`middle_band`: the same share of any model's depth.
"""

from __future__ import annotations

import json
import numbers
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..capture import Add, collect
from ..probes import ProbeResult, fit_probes
from .chat import READ_ASSISTANT, READ_USER, chat_text, check_messages

__all__ = ["Attribute", "AttributeProbes", "ChatProbes", "middle_band", "STRENGTH_LIMIT", "KINDS"]

KINDS = ("reading", "control")
STRENGTH_LIMIT = 64.0  # |N|: far past what moves any probe (a logit shift of 64 per layer)
SITE = "layers.{}.resid_post"


@dataclass(frozen=True)
class Attribute:
    """What a probe reads: a name, its values, and whom it is about (``"user"`` or ``"assistant"``)."""

    name: str
    values: tuple[str, ...]
    about: str = "user"

    def __post_init__(self):
        object.__setattr__(self, "values", tuple(self.values))
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"an attribute needs a name, got {self.name!r}")
        if len(self.values) < 2 or len(set(self.values)) != len(self.values):
            raise ValueError(f"attribute {self.name!r} needs two or more distinct values to tell apart, got "
                             f"{list(self.values)}")
        if self.about not in ("user", "assistant"):
            raise ValueError(f"attribute {self.name!r}: about must be 'user' or 'assistant', got {self.about!r}")

    @property
    def phrase(self) -> str:
        """The reading probe's phrase."""
        return (READ_USER if self.about == "user" else READ_ASSISTANT).format(attribute=self.name)

    def index(self, value: str) -> int:
        if value not in self.values:
            raise ValueError(f"{value!r} is not a value of {self.name!r}: one of {list(self.values)}")
        return self.values.index(value)


def middle_band(n_layers: int) -> list[int]:
    """TalkTuner's band as a share of any depth. Its code edits the outputs of ``model.layers[19]`` to
    ``[28]`` of Llama-2-13B's 40 (our ``layers.19.resid_post`` to ``layers.28.resid_post``): 47.5% to 72.5%."""
    lo = int(round(0.475 * n_layers))
    return list(range(min(lo, n_layers - 1), max(lo + 1, int(round(0.725 * n_layers)))))


def _texts(tokenizer, conversations, attribute: Attribute, kind: str) -> list[str]:
    if kind not in KINDS:
        raise ValueError(f"probe kind must be one of {KINDS}, got {kind!r}")
    return [chat_text(tokenizer, c, reading=attribute.phrase if kind == "reading" else None) for c in conversations]


def _by_layer(store) -> torch.Tensor:
    """``[rows, layers, d]`` from a store of ``layers.*.resid_post``, in layer order (not the names' order)."""
    return torch.stack([store[n] for n in sorted(store, key=lambda s: int(s.split(".")[1]))], 1)


def features(model, tokenizer, conversations, attribute: Attribute, kind: str, *, batch_size: int = 16,
             progress: bool = False, cache: dict | None = None) -> torch.Tensor:
    """The residual stream after every layer at the probe's token, ``[n, layers, d_model]``; ``cache`` (a dict)
    keeps them by text, so that the control probes of several attributes read each conversation once."""
    texts = tuple(_texts(tokenizer, conversations, attribute, kind))
    if cache is not None and texts in cache:
        return cache[texts]
    store = collect(model, list(texts), "layers.*.resid_post", tokenizer=tokenizer, batch_size=batch_size,
                    positions="last", progress=progress)
    X = _by_layer(store)
    if cache is not None:
        cache[texts] = X
    return X


@dataclass
class AttributeProbes:
    """One attribute's probes of one kind, one per layer, and the layer whose readout is shown."""

    attribute: Attribute
    kind: str
    probes: ProbeResult  # batch [layers]; classes are indices into attribute.values
    layer: int
    accuracy: dict[str, list[float]] = field(default_factory=dict)  # split -> per-layer accuracy

    @property
    def n_layers(self) -> int:
        return self.probes.batch_shape[0]

    @property
    def hidden_size(self) -> int:
        return self.probes.weight.shape[-2]

    def probabilities(self, feats: torch.Tensor, layer: int | None = None) -> torch.Tensor:
        """``[n, values]``: the softmax of the probe at ``layer`` (default: the chosen one) on ``[n, layers, d]``."""
        return self.probes.probabilities(feats.float())[:, self.layer if layer is None else layer]

    def score(self, feats: torch.Tensor, labels) -> np.ndarray:
        """Per-layer accuracy ``[layers]`` on features ``[n, layers, d]`` and value indices ``[n]``."""
        y = torch.as_tensor(np.asarray(labels))
        return (self.probes.predict(feats.float()) == y[:, None]).float().mean(0).numpy()

    def direction(self, value: str, layer: int) -> torch.Tensor:
        """``w / |w|^2`` for the value's centred weight column at ``layer``: adding ``N`` times it shifts the
        value's logit, against the mean of the values' logits, by ``N`` in that layer's probe."""
        W = self.probes.weight[layer]  # [d, k]
        if W.shape[-1] == 1:
            w = W[:, 0] * (1.0 if self.attribute.index(value) == 1 else -1.0) / 2  # logits (0, z): centred +-z/2
        else:
            w = W[:, self.attribute.index(value)] - W.mean(-1)
        return w / w.pow(2).sum().clamp_min(1e-12)


def _labels(attribute: Attribute, labels) -> np.ndarray:
    return np.array([attribute.index(v) for v in labels])


def fit_attribute(model, tokenizer, attribute: Attribute, conversations, labels, *, kind: str = "reading",
                  choose: tuple[Sequence, Sequence] | None = None, test: tuple[Sequence, Sequence] | None = None,
                  layer: int | None = None, l2: float = 1.0, val_frac: float = 0.25, seed: int = 0,
                  batch_size: int = 16, progress: bool = False, cache: dict | None = None) -> AttributeProbes:
    """Fit one attribute's probes at every layer on labelled conversations.

    ``choose=(conversations, labels)`` are held out to pick the layer (best accuracy; ``layer=`` overrides);
    without it a ``val_frac`` share of the conversations is held out. ``test=`` (report only) adds per-layer
    test accuracy. ``accuracy`` holds ``"fit"``, ``"choose"`` (and ``"test"``) per layer. ``cache``: see
    :func:`features`.
    """
    y = _labels(attribute, labels)
    if len(y) != len(conversations):
        raise ValueError(f"{len(conversations)} conversations but {len(y)} labels: they must match")
    def read(convs):
        return features(model, tokenizer, convs, attribute, kind, batch_size=batch_size, progress=progress,
                        cache=cache)

    X = read(conversations)
    split = None
    if choose is not None:
        yc = _labels(attribute, choose[1])
        Xc = read(choose[0])
        split = (np.arange(len(y)), np.arange(len(y), len(y) + len(yc)))
        X, y = torch.cat([X, Xc]), np.concatenate([y, yc])
    present = sorted(set(y.tolist()))
    if len(present) < 2:
        raise ValueError(f"the conversations for {attribute.name!r} all have the value "
                         f"{attribute.values[present[0]]!r}: a probe needs examples of two or more values")
    probes = fit_probes(X, torch.as_tensor(y), split=split, val_frac=val_frac, l2=l2, seed=seed, progress=False)
    if probes.classes.tolist() != list(range(len(attribute.values))):  # every value as a column, in order
        raise ValueError(f"the conversations for {attribute.name!r} show only the values "
                         f"{[attribute.values[i] for i in probes.classes.tolist()]} of {list(attribute.values)}: "
                         "each value needs examples")
    result = AttributeProbes(attribute, kind, probes, 0, {
        "fit": probes.metrics["train_accuracy"].tolist(), "choose": probes.metrics["val_accuracy"].tolist()})
    result.layer = int(np.argmax(result.accuracy["choose"])) if layer is None else _check_layer(layer, result.n_layers)
    if test is not None:
        Xt = read(test[0])
        result.accuracy["test"] = result.score(Xt, _labels(attribute, test[1])).tolist()
    return result


def _check_layer(layer: int, n_layers: int) -> int:
    if not isinstance(layer, (int, np.integer)) or not 0 <= layer < n_layers:
        raise ValueError(f"layer must be between 0 and {n_layers - 1}, got {layer!r}")
    return int(layer)


def hidden_size(model) -> int | None:
    config = getattr(model, "config", None)
    size = getattr(config, "hidden_size", None) or getattr(config, "n_embd", None)
    return size if isinstance(size, int) else None


@dataclass
class ChatProbes:
    """Reading and control probes for any number of attributes of the user and the assistant.

    Examples
    --------
    >>> from interpwidgets.dashboard import ChatProbes
    >>> from interpwidgets.worlds import personas
    >>> model, tokenizer = personas.load()
    >>> train = personas.conversations(200, seed=personas.SPLIT_SEEDS["fit"])
    >>> probes = ChatProbes.fit(model, tokenizer, train, [personas.attribute("socioeconomic status")])
    >>> chat = train[0].messages
    >>> read = probes.readout(model, tokenizer, chat)   # {"socioeconomic status": {"low": 0.1, ...}}
    >>> with probes.steer(model, {"socioeconomic status": ("high", 8.0)}):
    ...     pass  # generate here: the replies lean towards a high budget
    """

    reading: dict[str, AttributeProbes] = field(default_factory=dict)
    control: dict[str, AttributeProbes] = field(default_factory=dict)
    band: list[int] | None = None  # the layers pins edit (default: middle_band)

    @property
    def attributes(self) -> dict[str, Attribute]:
        return {name: p.attribute for name, p in self.reading.items()}

    @property
    def n_layers(self) -> int:
        if not self.reading:
            raise ValueError("these ChatProbes read no attribute yet: fit them (ChatProbes.fit) or add one (add)")
        return next(iter(self.reading.values())).n_layers

    def add(self, model, tokenizer, attribute: Attribute, conversations, labels, **kwargs) -> ChatProbes:
        """Fit both probe kinds of ``attribute`` (see :func:`fit_attribute`) and keep them."""
        if self.reading:
            self.check(model)
        for kind, table in (("reading", self.reading), ("control", self.control)):
            table[attribute.name] = fit_attribute(model, tokenizer, attribute, conversations, labels, kind=kind,
                                                  **kwargs)
        return self

    @classmethod
    def fit(cls, model, tokenizer, conversations, attributes: Sequence[Attribute], *, choose=None, test=None,
            **kwargs) -> ChatProbes:
        """Probes for ``attributes`` from labelled conversations: objects with ``messages`` and ``labels``
        (``{attribute: value}``, as the personas world's ``Conversation``) or ``(messages, labels)`` pairs.
        ``choose`` and ``test`` are labelled conversations of the same kind (see :func:`fit_attribute`); a
        conversation without a label for an attribute is left out of that attribute's probes."""
        def rows(data, name):
            pairs = [(c.messages, c.labels) if hasattr(c, "messages") else tuple(c) for c in data]
            kept = [(m, l[name]) for m, l in pairs if name in l]
            return [m for m, _ in kept], [v for _, v in kept]

        probes, cache = cls(), {}  # the control probes' texts are the same for every attribute: read once
        kwargs.setdefault("cache", cache)
        for attribute in attributes:
            if not isinstance(attribute, Attribute):
                raise TypeError(f"attributes must be iw.Attribute objects (a name and its values), got {attribute!r}")
            train = rows(conversations, attribute.name)
            if not train[0]:
                raise ValueError(f"no conversation is labelled with {attribute.name!r}")
            extra = {k: rows(v, attribute.name) for k, v in (("choose", choose), ("test", test)) if v is not None}
            probes.add(model, tokenizer, attribute, *train, **extra, **kwargs)
        return probes

    def check(self, model) -> None:
        """A clear error when the probes were fitted on a model of another width or depth (or read nothing)."""
        _ = self.n_layers
        size, layers = hidden_size(model), getattr(getattr(model, "config", None), "num_hidden_layers", None)
        for p in self.reading.values():
            if size is not None and p.hidden_size != size:
                raise ValueError(f"the probes of {p.attribute.name!r} read {p.hidden_size} features but "
                                 f"{type(model).__name__} has a hidden size of {size}: they were fitted on another "
                                 "model")
            if isinstance(layers, int) and p.n_layers != layers:
                raise ValueError(f"the probes of {p.attribute.name!r} have {p.n_layers} layers but "
                                 f"{type(model).__name__} has {layers}: they were fitted on another model")

    # ------------------------------------------------------------------ reading
    def readout(self, model, tokenizer, messages, *, reply: str = "", kind: str = "reading",
                layers: Mapping[str, int] | None = None) -> dict[str, dict[str, float]]:
        """``{attribute: {value: probability}}`` for a conversation (and a ``reply`` written so far), from
        each attribute's chosen layer (``layers={name: layer}`` overrides). The attributes' texts go in one
        batch, padded on the right: read outside any edit that acts at the last position (the session
        reads on a thread of its own)."""
        self.check(model)
        table = self.reading if kind == "reading" else self.control if kind == "control" else None
        if table is None:
            raise ValueError(f"probe kind must be one of {KINDS}, got {kind!r}")
        messages = check_messages(messages)
        names = list(table)
        texts = [chat_text(tokenizer, messages, reply=reply, reading=table[n].attribute.phrase if kind == "reading"
                           else None) for n in names]
        store = collect(model, texts, "layers.*.resid_post", tokenizer=tokenizer, batch_size=len(texts),
                        positions="last", progress=False)
        feats = _by_layer(store)  # [attributes, layers, d]
        out = {}
        for i, name in enumerate(names):
            p = table[name]
            layer = _check_layer((layers or {}).get(name, p.layer), p.n_layers)
            probs = p.probabilities(feats[i:i + 1], layer)[0]
            out[name] = {v: float(probs[j]) for j, v in enumerate(p.attribute.values)}
        return out

    # ------------------------------------------------------------------ steering
    def check_pin(self, name: str, value: str, strength: float) -> tuple[str, float]:
        """``(value, strength)`` of a pin on ``name`` if these probes can set it, else a ``ValueError``."""
        if name not in self.control:
            raise ValueError(f"no probes for {name!r}: pins can set {sorted(self.control)}")
        self.control[name].attribute.index(value)
        if isinstance(strength, torch.Tensor) and strength.numel() == 1:
            strength = strength.item()
        if isinstance(strength, bool) or not isinstance(strength, numbers.Real) or not abs(strength) <= STRENGTH_LIMIT:
            raise ValueError(f"the strength of the pin on {name!r} must be a number between "
                             f"{-STRENGTH_LIMIT:g} and {STRENGTH_LIMIT:g}, got {strength!r}")
        return value, float(strength)

    def edits(self, pins: Mapping[str, tuple[str, float]], *, random: bool = False, seed: int = 0) -> dict[str, Add]:
        """The engine edits for ``pins`` (``{attribute: (value, N)}``): at each layer of the band, the sum of
        the pins' ``N * direction``; ``random=True`` puts a random direction of the same norm in each's place."""
        band = self.band if self.band is not None else middle_band(self.n_layers)
        total: dict[int, torch.Tensor] = {}
        for name, pin in pins.items():
            value, strength = self.check_pin(name, *pin)
            p = self.control[name]
            for layer in band:
                d = p.direction(value, _check_layer(layer, p.n_layers))
                if random:
                    g = torch.Generator().manual_seed(zlib.crc32(f"{seed}/{name}/{value}/{layer}".encode()))
                    r = torch.randn(d.shape, generator=g)
                    d = r * d.norm() / r.norm()
                total[layer] = total.get(layer, 0) + strength * d
        return {SITE.format(layer): Add(v, positions=-1) for layer, v in sorted(total.items())}

    def steer(self, model, pins: Mapping[str, tuple[str, float]], *, random: bool = False, seed: int = 0):
        """A context in which ``model`` is steered by ``pins`` (see :meth:`edits`) on every forward pass."""
        from ..capture import intervene

        self.check(model)
        return intervene(model, self.edits(pins, random=random, seed=seed))

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        """A folder: every probe (safetensors) and what it reads, its layer and accuracies (JSON)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        index = {"format": "interpwidgets.ChatProbes/1", "band": self.band, "probes": []}
        for kind, table in (("reading", self.reading), ("control", self.control)):
            for i, (name, p) in enumerate(table.items()):
                file = f"{kind}_{i}.safetensors"
                p.probes.save(path / file)
                index["probes"].append({"kind": kind, "file": file, "name": name, "values": list(p.attribute.values),
                                        "about": p.attribute.about, "layer": p.layer, "accuracy": p.accuracy})
        (path / "probes.json").write_text(json.dumps(index, indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> ChatProbes:
        path = Path(path)
        index = json.loads((path / "probes.json").read_text())
        out = cls(band=index.get("band"))
        for e in index["probes"]:
            p = AttributeProbes(Attribute(e["name"], tuple(e["values"]), e["about"]), e["kind"],
                                ProbeResult.load(path / e["file"]), e["layer"], e["accuracy"])
            (out.reading if e["kind"] == "reading" else out.control)[e["name"]] = p
        return out
