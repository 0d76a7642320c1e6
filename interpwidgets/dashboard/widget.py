"""ChatDashboard: a chat with a model beside live readouts of its user model and system model, pins that steer
the next replies, a side-by-side regeneration with and without the pins, and the readouts' history (plotly).

The view asks through requests (``say``, ``pin``, ``unpin``, ``regenerate``, ``compare``, ``reset``); every
reply and readout is computed by :class:`~interpwidgets.dashboard.ChatSession` in the background (one shared
job: a new turn stops the reply under way), and the traits carry the result back to every open view.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import ipywidgets
import traitlets

from ..widgets import Widget, serves
from ..widgets.jobs import Job
from .method import STRENGTH_LIMIT, ChatProbes
from .session import ChatSession

__all__ = ["ChatBoard", "ChatDashboard"]


class ChatBoard(Widget):
    """The chat and the readout bars with their pins (the anywidget part of :class:`ChatDashboard`)."""

    _bundle = "chat_dashboard"

    attributes = traitlets.List([]).tag(sync=True)  # [{name, values, about, layer, accuracy, split}]
    messages = traitlets.List([]).tag(sync=True)
    reply = traitlets.Unicode("").tag(sync=True)  # the reply being written
    generating = traitlets.Bool(False).tag(sync=True)
    readout = traitlets.Dict({}).tag(sync=True)  # {attribute: {value: probability}} now
    readouts = traitlets.List([]).tag(sync=True)  # every turn's readout: {after, turn, values, pins}
    pins = traitlets.Dict({}).tag(sync=True)  # {attribute: [value, strength]}
    live = traitlets.Bool(False).tag(sync=True)  # read out after every token of a reply
    compared = traitlets.Dict({}).tag(sync=True)  # {"plain", "steered", "pins", "turn"}
    truncated = traitlets.Int(0).tag(sync=True)  # tokens cut from the start of the last prompt
    strength_limit = traitlets.Float(STRENGTH_LIMIT).tag(sync=True)
    busy = traitlets.Unicode("").tag(sync=True)
    notice = traitlets.Unicode("").tag(sync=True)

    def __init__(self, model, tokenizer, probes: ChatProbes, *, messages: Sequence | None = None,
                 pins: Mapping | None = None, max_new_tokens: int = 48, live: bool = False, background: bool = True,
                 **kwargs):
        self._session = ChatSession(model, tokenizer, probes, list(messages or []), dict(pins or {}), max_new_tokens)
        super().__init__(attributes=[_described(p) for p in probes.reading.values()], live=live, **kwargs)
        self._job = Job(self, "chat", background=background)  # one run at a time: a new one stops the last
        self._sync()
        if self._session.messages and self._session.messages[-1]["role"] == "user":
            self._start(self._reply_work)
        elif self._session.messages and not self._session.readouts:
            self._start(lambda run: (self._session.record("assistant"), self._sync()))

    @property
    def session(self) -> ChatSession:
        return self._session

    def wait(self, timeout: float | None = None) -> bool:
        return self._job.wait(timeout)

    # ------------------------------------------------------------------ state
    def _sync(self) -> None:
        s = self._session
        self.messages = [dict(m) for m in s.messages]
        self.readouts = json.loads(json.dumps(s.readouts))
        self.readout = self.readouts[-1]["values"] if self.readouts else {}
        self.pins = {k: list(v) for k, v in s.pins.items()}
        self.truncated = s.truncated

    def _start(self, work, what: str | None = None) -> None:
        self.notice = ""
        self._job.start(work, what)

    def _reply_work(self, run) -> None:
        self.generating, self.reply, self.busy = True, "", "writing the reply"

        def shown(pieces):
            self.reply = "".join(pieces)

        def read(values):
            self.readout = values

        try:
            self._session.generate(on_tokens=shown, check=run.check, on_readout=read if self.live else None)
        finally:
            if run.stopped:
                self.notice = "The reply being written was stopped by a newer request."
            self.generating, self.reply, self.busy = False, "", ""
            self._sync()

    # ------------------------------------------------------------------ actions (Python and the view)
    def say(self, text: str) -> None:
        """Send the user's turn: the models are read out, then the reply is written (in the background; a
        reply under way is stopped)."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("a user's turn needs some text")

        def work(run):
            self.busy = "reading the models"
            self._session.say(text)
            self._sync()
            run.check()
            self._reply_work(run)

        self._start(work, "reply")

    def pin(self, attribute: str, value: str, strength: float) -> None:
        """Pin ``attribute`` to ``value`` with strength ``N``: the next replies are steered (a reply under way
        keeps the pins it started with)."""
        self._session.pin(attribute, value, strength)
        self.pins = {k: list(v) for k, v in self._session.pins.items()}

    def unpin(self, attribute: str | None = None) -> None:
        self._session.unpin(attribute)
        self.pins = {k: list(v) for k, v in self._session.pins.items()}

    def regenerate(self) -> None:
        """Write the last reply again (under the pins as they are now)."""
        def work(run):
            self._session.undo()
            self._sync()
            self._reply_work(run)

        self._start(work, "reply")

    def compare(self) -> None:
        """Write the reply to the last user turn twice, without pins and with them, side by side (the
        conversation is not changed)."""
        if not self._session.messages:
            raise ValueError("nothing to compare yet: say something first")

        def work(run):
            self.busy = "writing the reply without pins, then with them"
            try:
                self.compared = self._session.compare(check=run.check)
            finally:
                self.busy = ""

        self._start(work, "compare")

    def reset(self) -> None:
        def work(run):
            self._session.reset()
            self.compared = {}
            self._sync()

        self._start(work, "reset")

    # ------------------------------------------------------------------ files
    def export(self, path: str | Path | None = None) -> dict:
        """The conversation, pins and readouts (JSON-ready); written to ``path`` too, when given."""
        state = self._session.export()
        if path is not None:
            Path(path).write_text(json.dumps(state, indent=1))
        return state

    def restore(self, state) -> None:
        """Take back an :meth:`export` (a dict or a file): checked here first (a bad one raises and changes
        nothing), then taken in the background (a reply under way is stopped)."""
        checked = self._session.check_state(state)

        def work(run):
            self._session.take(checked)
            self.compared = {}
            self._sync()

        self._start(work, "restore")

    # ------------------------------------------------------------------ requests
    @serves("say")
    def _say(self, text: str) -> dict:
        self.say(text)
        return {}

    @serves("pin")
    def _pin(self, attribute: str, value: str, strength: float) -> dict:
        self.pin(attribute, value, strength)
        return {}

    @serves("unpin")
    def _unpin(self, attribute: str) -> dict:
        self.unpin(attribute)
        return {}

    @serves("regenerate")
    def _regenerate(self) -> dict:
        self.regenerate()
        return {}

    @serves("compare")
    def _compare(self) -> dict:
        self.compare()
        return {}

    @serves("reset")
    def _reset(self) -> dict:
        self.reset()
        return {}


def _described(p) -> dict:
    """What the view says of an attribute's readout: its values, its layer and that layer's accuracy, on the
    test conversations when the probes have some, else on those the layer was chosen on (and says which)."""
    split = "test" if p.accuracy.get("test") else "choose"
    return {"name": p.attribute.name, "values": list(p.attribute.values), "about": p.attribute.about,
            "layer": p.layer, "accuracy": p.accuracy.get(split, []), "split": split}


class ChatDashboard(ipywidgets.VBox):
    """Chat with ``model`` and watch what it believes about the user and about itself: ``ChatDashboard(model,
    tokenizer, probes)``.

    Beside the chat, a bar per attribute (the probability of each value, from the reading probe of the
    layer chosen on held-out conversations), read again after every user turn and every reply (and every
    reply token, with ``live=True``); per attribute a pin (a value and a strength N) that steers the next
    replies by the control probe's direction, its value outlined on the bars (which show what the model
    reads from the conversation as written, without the pins: see :mod:`~interpwidgets.dashboard.session`);
    "compare" writes the last reply without and with the pins side by side. Below, the history of every
    readout across the turns (plotly). ``export()`` / ``restore()`` keep a conversation with its readouts
    and pins as JSON.

    Examples
    --------
    >>> from interpwidgets import ChatDashboard
    >>> from interpwidgets.dashboard import ChatProbes
    >>> from interpwidgets.worlds import personas
    >>> model, tokenizer = personas.load()
    >>> probes = ChatProbes.fit(model, tokenizer, personas.conversations(200, seed=11), personas.attributes())
    >>> board = ChatDashboard(model, tokenizer, probes, background=False)
    >>> board.say("Hi! I'm Maria. Money is tight this month. Can you suggest a gift?")
    >>> board.chat.messages[-1]["role"], len(board.chat.readouts)
    ('assistant', 2)
    """

    def __init__(self, model, tokenizer, probes: ChatProbes, *, messages: Sequence | None = None,
                 pins: Mapping | None = None, max_new_tokens: int = 48, live: bool = False,
                 background: bool = True):
        self.chat = ChatBoard(model, tokenizer, probes, messages=messages, pins=pins, max_new_tokens=max_new_tokens,
                              live=live, background=background)
        self.figure = self._figure()
        self._drawing = threading.Lock()
        self.chat.observe(self._redraw, names=["readouts"])
        self._redraw()
        super().__init__([self.chat, self.figure])

    # the chat's actions, on the dashboard itself
    def say(self, text: str) -> None:
        self.chat.say(text)

    def pin(self, attribute: str, value: str, strength: float) -> None:
        self.chat.pin(attribute, value, strength)

    def unpin(self, attribute: str | None = None) -> None:
        self.chat.unpin(attribute)

    def compare(self) -> None:
        self.chat.compare()

    def regenerate(self) -> None:
        self.chat.regenerate()

    def reset(self) -> None:
        self.chat.reset()

    def export(self, path=None) -> dict:
        return self.chat.export(path)

    def restore(self, state) -> None:
        self.chat.restore(state)

    def wait(self, timeout: float | None = None) -> ChatDashboard:
        self.chat.wait(timeout)
        return self

    def _figure(self):
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        names = [a["name"] for a in self.chat.attributes]
        cols = min(3, len(names))
        rows = -(-len(names) // cols)
        fig = go.FigureWidget(make_subplots(rows=rows, cols=cols, subplot_titles=names, shared_xaxes=False,
                                            horizontal_spacing=0.08, vertical_spacing=0.22))
        fig.update_yaxes(range=[0, 1], tickformat=".0%", title_text="probability")
        fig.update_xaxes(title_text="after turn", dtick=1)
        fig.update_layout(height=260 * rows + 130, width=980, margin=dict(l=60, r=20, t=70, b=120),
                          title=dict(text="the readouts across the conversation (reading probes)", x=0.5,
                                     font=dict(size=13)),
                          legend=dict(font=dict(size=10), orientation="h", y=-0.12, yanchor="top", x=0))
        self._cells = {n: (i // cols + 1, i % cols + 1) for i, n in enumerate(names)}
        return fig

    def _redraw(self, change=None) -> None:
        import plotly.colors

        with self._drawing:  # the chat's job thread and the kernel's may both redraw
            history, fig = self.chat.readouts, self.figure
            palette = plotly.colors.qualitative.D3
            with fig.batch_update():
                fig.data = []
                for a in self.chat.attributes:
                    row, col = self._cells[a["name"]]
                    xs = [r["turn"] + (0.5 if r["after"] == "assistant" else 0) for r in history]
                    text = [f"after the {'reply to' if r['after'] == 'assistant' else 'user'} turn {r['turn']}"
                            for r in history]
                    for j, value in enumerate(a["values"]):
                        ys = [r["values"].get(a["name"], {}).get(value) for r in history]
                        fig.add_scatter(x=xs, y=ys, text=text, mode="lines+markers", name=f"{a['name']}: {value}",
                                        line=dict(color=palette[j % len(palette)]), row=row, col=col,
                                        hovertemplate="%{text}<br>" + value + ": %{y:.0%}<extra></extra>")
