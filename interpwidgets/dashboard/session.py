"""A conversation with a chat model whose user model and system model are read after every turn and can be
pinned: what :class:`~interpwidgets.ChatDashboard` shows, usable without it.

Readouts are taken under the pins (a pin edits the model's representation, so the readout shows what the
steered model believes); replies are generated greedily under them, streamed token by token. A conversation
longer than the model's context is cut from the start (``truncated`` says how many tokens went).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from ..capture.inputs import model_device
from ..generation import stream
from .chat import check_messages, prompt_ids
from .method import ChatProbes

__all__ = ["ChatSession", "FORMAT"]

FORMAT = "interpwidgets.ChatSession/1"


@dataclass
class ChatSession:
    """Messages, pins and the history of readouts of one conversation with ``model``.

    Examples
    --------
    >>> from interpwidgets.dashboard import ChatProbes, ChatSession
    >>> from interpwidgets.worlds import personas
    >>> model, tokenizer = personas.load()
    >>> probes = ChatProbes.fit(model, tokenizer, personas.conversations(200, seed=11),
    ...                         [personas.attribute("socioeconomic status")])
    >>> chat = ChatSession(model, tokenizer, probes)
    >>> _ = chat.say("Hi! Money is tight this month. Can you suggest a gift?")
    >>> chat.pin("socioeconomic status", "high", 8.0)
    >>> reply = chat.generate()           # streamed with on_tokens=..., steered by the pin
    >>> [r["after"] for r in chat.readouts]
    ['user', 'assistant']
    """

    model: object
    tokenizer: object
    probes: ChatProbes
    messages: list[dict[str, str]] = field(default_factory=list)
    pins: dict[str, tuple[str, float]] = field(default_factory=dict)
    max_new_tokens: int = 48
    readouts: list[dict] = field(default_factory=list)  # {"after", "turn", "values", "pins"}
    truncated: int = 0  # tokens cut from the start of the last prompt

    def __post_init__(self):
        self.probes.check(self.model)
        if self.messages:
            self.messages = check_messages(self.messages)
        for name, (value, strength) in dict(self.pins).items():
            self.pin(name, value, strength)

    # ------------------------------------------------------------------ pins
    def pin(self, attribute: str, value: str, strength: float) -> None:
        """Steer the next replies (and readouts) towards ``value`` of ``attribute`` with strength ``N``."""
        self.pins[attribute] = self.probes.check_pin(attribute, value, strength)

    def unpin(self, attribute: str | None = None) -> None:
        """Drop the pin on ``attribute`` (all pins when None)."""
        if attribute is None:
            self.pins.clear()
        else:
            self.pins.pop(attribute, None)

    def _steered(self, pins: Mapping | None = None):
        pins = self.pins if pins is None else pins
        return self.probes.steer(self.model, pins) if pins else nullcontext()

    # ------------------------------------------------------------------ turns
    def read(self, reply: str = "") -> dict[str, dict[str, float]]:
        """Every attribute's readout now (after ``reply``, a reply written so far, if given), under the pins."""
        with self._steered():
            return self.probes.readout(self.model, self.tokenizer, self.messages, reply=reply)

    def record(self, after: str) -> dict:
        """Read the models out now and keep the readout in the history (``after``: whose turn it follows)."""
        entry = {"after": after, "turn": sum(m["role"] == "user" for m in self.messages), "values": self.read(),
                 "pins": {k: list(v) for k, v in self.pins.items()}}
        self.readouts.append(entry)
        return entry

    def say(self, text: str) -> dict:
        """Add the user's turn and read the models out; returns the readout."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("a user's turn needs some text")
        self.messages.append({"role": "user", "content": text.strip()})
        return self.record("user")

    def generate(self, on_tokens: Callable[[list[str]], None] | None = None,
                 check: Callable[[], None] | None = None) -> str:
        """The assistant's reply to the conversation, greedy, streamed to ``on_tokens``, under the pins; it
        joins the conversation, and the models are read out after it."""
        if not self.messages or self.messages[-1]["role"] == "assistant":
            raise ValueError("the assistant replies to a user's turn: say something first")
        text = self._reply(self.messages, self.pins, on_tokens, check)
        self.messages.append({"role": "assistant", "content": text})
        self.record("assistant")
        return text

    def compare(self, check: Callable[[], None] | None = None) -> dict:
        """The reply to the last user turn written twice, without pins and with them; the conversation is
        not changed. ``{"plain", "steered", "pins", "turn"}``."""
        messages = self.messages[:-1] if self.messages and self.messages[-1]["role"] == "assistant" else self.messages
        if not messages:
            raise ValueError("nothing to compare yet: say something first")
        plain = self._reply(messages, {}, None, check)
        steered = self._reply(messages, self.pins, None, check)
        return {"plain": plain, "steered": steered, "pins": {k: list(v) for k, v in self.pins.items()},
                "turn": sum(m["role"] == "user" for m in messages)}

    def _reply(self, messages, pins, on_tokens, check) -> str:
        ids, self.truncated = prompt_ids(self.model, self.tokenizer, messages, self.max_new_tokens)
        with self._steered(pins):
            pieces = stream(self.model, ids.to(model_device(self.model)), tokenizer=self.tokenizer,
                            max_new_tokens=self.max_new_tokens, on_tokens=on_tokens, check=check)
        return "".join(pieces).replace(self.tokenizer.eos_token or "\0", "").strip()

    def undo(self) -> None:
        """Take the last reply back (to regenerate it), with its readout."""
        if self.messages and self.messages[-1]["role"] == "assistant":
            self.messages.pop()
            if self.readouts and self.readouts[-1]["after"] == "assistant":
                self.readouts.pop()

    def reset(self) -> None:
        self.messages, self.readouts, self.truncated = [], [], 0

    # ------------------------------------------------------------------ files
    def export(self) -> dict:
        """The conversation, the pins and the readouts, as JSON-ready data (see :meth:`restore`)."""
        return {"format": FORMAT, "messages": [dict(m) for m in self.messages],
                "pins": {k: list(v) for k, v in self.pins.items()}, "readouts": json.loads(json.dumps(self.readouts)),
                "max_new_tokens": self.max_new_tokens}

    def restore(self, state: Mapping | str | Path) -> None:
        """Take back an :meth:`export` (a dict, or a JSON file's path): every check first, then the change,
        so that a bad file leaves the session as it was."""
        if isinstance(state, (str, Path)):
            state = json.loads(Path(state).read_text())
        if not isinstance(state, Mapping) or state.get("format") != FORMAT:
            raise ValueError(f"not an exported chat ({FORMAT}): got {str(state)[:80]!r}")
        messages = check_messages(state["messages"]) if state.get("messages") else []
        pins = {}
        for name, pin in dict(state.get("pins") or {}).items():
            pins[name] = self.probes.check_pin(name, *pin)
        readouts = list(state.get("readouts") or [])
        names = set(self.probes.reading)
        for r in readouts:
            if not isinstance(r, Mapping) or not set(r.get("values", {})) <= names:
                raise ValueError(f"a readout names attributes these probes do not read: {r!r:.120}")
        self.messages, self.pins, self.readouts = messages, pins, readouts
        self.max_new_tokens = int(state.get("max_new_tokens", self.max_new_tokens))

