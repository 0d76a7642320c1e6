"""A conversation with a chat model whose user model and system model are read after every turn and can be
pinned: what :class:`~interpwidgets.ChatDashboard` shows, usable without it.

A readout is what the model reads from the conversation as it stands, taken without the pins: a pin adds
the control probe's direction at the very token a reading probe reads, so a readout taken under it would
show the pin by construction. What a pin changes shows where it can be measured: in the replies written
under it, and in the readouts after them (the model reading its own steered words). Replies are greedy,
streamed token by token, under the pins; with ``on_readout`` the models are read after every token too (on
a thread of their own, which the pins of the reply's thread do not reach). A conversation longer than the
model's context is cut from the start (``truncated`` says how many tokens went).
"""

from __future__ import annotations

import json
import threading
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
_AFTER = ("user", "assistant")


def _unpinned(fn: Callable):
    """``fn()`` on a thread of its own: the engine's edits serve the thread that opened them, so a reply's
    pins do not reach a readout taken between two of its tokens."""
    out: dict = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as err:  # handed back to the caller's thread
            out["error"] = err

    thread = threading.Thread(target=run, name="iw-readout", daemon=True)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


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
    >>> _ = chat.say("Hi! Can you suggest a gift?")
    >>> chat.pin("socioeconomic status", "high", 4.0)
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
        self.messages = check_messages(self.messages) if self.messages else []
        self.pins = {name: self.probes.check_pin(name, *pin) for name, pin in dict(self.pins).items()}
        self.max_new_tokens = _count(self.max_new_tokens)

    # ------------------------------------------------------------------ pins
    def pin(self, attribute: str, value: str, strength: float) -> None:
        """Steer the next replies towards ``value`` of ``attribute`` with strength ``N``."""
        self.pins[attribute] = self.probes.check_pin(attribute, value, strength)

    def unpin(self, attribute: str | None = None) -> None:
        """Drop the pin on ``attribute`` (all pins when None)."""
        if attribute is None:
            self.pins.clear()
        else:
            self.pins.pop(attribute, None)

    # ------------------------------------------------------------------ turns
    def read(self, reply: str = "") -> dict[str, dict[str, float]]:
        """Every attribute's readout now (after ``reply``, a reply written so far, if given), without pins."""
        return _unpinned(lambda: self.probes.readout(self.model, self.tokenizer, self.messages, reply=reply))

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

    def generate(self, on_tokens: Callable[[list[str]], None] | None = None, check: Callable[[], None] | None = None,
                 on_readout: Callable[[dict], None] | None = None) -> str:
        """The assistant's reply to the conversation, greedy, streamed to ``on_tokens``, under the pins; it
        joins the conversation, and the models are read out after it (and after every token, to
        ``on_readout``, when given)."""
        if not self.messages or self.messages[-1]["role"] == "assistant":
            raise ValueError("the assistant replies to a user's turn: say something first")

        def shown(pieces):
            if on_tokens is not None:
                on_tokens(pieces)
            if on_readout is not None:
                on_readout(self.read(reply="".join(pieces)))

        text = self._reply(self.messages, self.pins, shown, check)
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
        pins = dict(pins)  # as they are now: a pin set while the reply is written applies to the next one
        ids, self.truncated = prompt_ids(self.model, self.tokenizer, messages, self.max_new_tokens)
        with self.probes.steer(self.model, pins) if pins else nullcontext():
            pieces = stream(self.model, ids.to(model_device(self.model)), tokenizer=self.tokenizer,
                            max_new_tokens=self.max_new_tokens, on_tokens=on_tokens, check=check,
                            skip_special_tokens=True)
        return "".join(pieces).strip()

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

    def check_state(self, state: Mapping | str | Path) -> dict:
        """An :meth:`export` (a dict, or a JSON file's path) checked whole: what :meth:`restore` would take, or
        a ``ValueError`` that names the first thing wrong."""
        if isinstance(state, (str, Path)):
            state = json.loads(Path(state).read_text())
        if not isinstance(state, Mapping) or state.get("format") != FORMAT:
            raise ValueError(f"not an exported chat ({FORMAT}): got {str(state)[:80]!r}")
        messages = check_messages(state["messages"]) if state.get("messages") else []
        pins = {}
        for name, pin in dict(state.get("pins") or {}).items():
            if not isinstance(pin, (list, tuple)) or len(pin) != 2:
                raise ValueError(f"the pin on {name!r} must be [value, strength], got {pin!r}")
            pins[name] = self.probes.check_pin(name, *pin)
        readouts = list(state.get("readouts") or [])
        names = set(self.probes.reading)
        for r in readouts:
            ok = (isinstance(r, Mapping) and r.get("after") in _AFTER and isinstance(r.get("turn"), int)
                  and isinstance(r.get("values"), Mapping) and set(r["values"]) <= names)
            if not ok:
                raise ValueError(f"a readout must be {{'after': 'user' or 'assistant', 'turn': int, 'values': "
                                 f"{{attribute: {{value: p}}}}}} over the attributes {sorted(names)}; got {r!r:.160}")
        return {"messages": messages, "pins": pins, "readouts": json.loads(json.dumps(readouts)),
                "max_new_tokens": _count(state.get("max_new_tokens", self.max_new_tokens))}

    def restore(self, state: Mapping | str | Path) -> None:
        """Take back an :meth:`export`: everything is checked first (:meth:`check_state`), so that a bad file
        leaves the session as it was."""
        self.take(self.check_state(state))

    def take(self, checked: dict) -> None:
        """Take a state :meth:`check_state` checked (the widget checks on the kernel's thread, then takes)."""
        self.messages, self.pins, self.readouts = checked["messages"], checked["pins"], checked["readouts"]
        self.max_new_tokens, self.truncated = checked["max_new_tokens"], 0


def _count(n) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"max_new_tokens must be a positive whole number, got {n!r}")
    return n
