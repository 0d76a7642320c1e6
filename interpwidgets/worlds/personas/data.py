"""The personas world: chats in which hidden attributes of the user, and the assistant's own persona, shape
the words on both sides.

Every conversation draws a user (age, gender, socioeconomic status, education: TalkTuner's four attributes
and values) and an assistant persona, independently and uniformly (so that no attribute can be read through
another; a child with a degree is possible in this world). The user asks for a recommendation (a gift, a
snack, a trip, a hobby, a book) and, in each turn, shows each attribute with some probability through a cue
("money is tight", "I'm Maria", "since I retired", "back in college"). The ideal reply is built from all of
what the user has shown so far: the item suits the user's age and the topic, its price word their budget,
the opening phrase their education (each neutral, "a good gift card", where the user has not shown it: the
assistant knows only what it was told), and the sign-off the assistant's persona ("Have fun!", "I hope this
helps.", "Arr!"). The
persona is named in a system prompt in half of the conversations; in the others the assistant can only know
it from how it signed its own earlier replies. Gender shows in the user's words (a first name) and, by
design, in no reply: nothing the assistant says depends on it.

A share of conversations end with the assistant answering what TalkTuner's reading probe appends, "I think
the {attribute} of this user is" (or "of this assistant is" for the persona), with the true value of an
attribute it was told, so that the toy model has seen the phrase the reading probe reads at (what it then
says is what the probe's layer might read; the card compares the probe with the model's own next word).

The cue phrases and first names come in two halves (``half=0`` and ``half=1``): probes can be fitted on
conversations of one half and tested on the other, so that a probe cannot win by memorising a phrase (the
real-model path does this; the toy model is trained on both halves).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["USER_ATTRIBUTES", "SYSTEM_ATTRIBUTES", "ATTRIBUTES", "TOPICS", "Conversation", "conversation",
           "conversations", "reply", "reply_labels", "reading_phrase", "phrases", "UNKNOWN", "READ_USER", "READ_SYSTEM",
           "SPLIT_SEEDS"]

# TalkTuner's attributes and values (the paper's names)
USER_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "age": ("child", "adolescent", "adult", "older adult"),
    "gender": ("female", "male"),
    "socioeconomic status": ("low", "middle", "high"),
    "education": ("some schooling", "high school", "college and more"),
}
SYSTEM_ATTRIBUTES: dict[str, tuple[str, ...]] = {"persona": ("cheerful", "formal", "pirate")}
ATTRIBUTES = {**USER_ATTRIBUTES, **SYSTEM_ATTRIBUTES}
READ_USER = "I think the {attribute} of this user is"  # TalkTuner's reading prompt
READ_SYSTEM = "I think the {attribute} of this assistant is"
SPLIT_SEEDS = {"fit": 11, "choose": 12, "test": 13}  # of conversations() for probes; training uses others

# what shows an attribute in a user's turn: two halves of cue phrases per value
_CUES: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "age": {
        "child": (("I just got back from recess.", "My mom packs my lunch box.", "I'm in third grade."),
                  ("My teacher gave us stickers today.", "I lost a tooth yesterday.", "I'm seven and a half.")),
        "adolescent": (("I have a math test in ninth grade tomorrow.", "My parents still set my curfew.",
                        "I'm fifteen."),
                       ("I just got my learner's permit.", "Prom is coming up at my school.",
                        "I'm sixteen and bored.")),
        "adult": (("I just got home from the office.", "My mortgage payment is due.", "I'm thirty-five."),
                  ("My kids finally fell asleep.", "My boss moved my meeting again.", "I'm forty-two.")),
        "older adult": (("Since I retired I have more time.", "My grandchildren visit on Sundays.",
                         "I'm seventy-three."),
                        ("My knees are not what they used to be.", "I collect my pension on Fridays.",
                         "I'm eighty and still sharp.")),
    },
    "socioeconomic status": {
        "low": (("Money is tight this month.", "I can't spend much.", "I'm between jobs right now."),
                ("I'm saving every penny.", "My budget is really small.", "Rent took most of my pay.")),
        "middle": (("Nothing too fancy, please.", "Something reasonably priced.", "I have a normal budget."),
                   ("I can spend a fair amount.", "A mid-range price is fine.", "I want good value.")),
        "high": (("Money is no object.", "Price does not matter to me.", "I want the very best."),
                 ("I'll charge it to my private account.", "Spare no expense.", "I only buy top of the line.")),
    },
    "education": {
        "some schooling": (("I never finished school.", "School was not for me.", "I left school early."),
                           ("I didn't get far in school.", "I quit school young.", "Reading is hard for me.")),
        "high school": (("I finished high school.", "After high school I started working.",
                         "I have my high school diploma."),
                        ("I graduated high school and stopped there.", "High school was my last class.",
                         "I got my diploma and went to work.")),
        "college and more": (("Back in college I studied history.", "I have a master's degree.",
                              "My doctorate took five years."),
                             ("I have a university degree.", "During my PhD I read a lot.",
                              "I studied economics at university.")),
    },
}
_NAMES = {"female": (("Maria", "Emma", "Sofia", "Olivia", "Grace", "Hannah", "Chloe", "Lucy"),
                     ("Anna", "Julia", "Laura", "Sarah", "Emily", "Alice", "Nora", "Ruth")),
          "male": (("James", "Tom", "David", "Liam", "Noah", "Peter", "Jack", "Oscar"),
                   ("John", "Daniel", "Samuel", "Henry", "Mark", "Leo", "Adam", "Paul"))}
_NAME_CUES = (("I'm {}.", "My name is {}."), ("This is {} here.", "{} here."))
_GREETINGS = ("Hi!", "Hello.", "Hey there.", "Good morning.", "")
TOPICS: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, ...]]]] = {
    # topic: (how the user asks, the items that suit each age)
    "gift": (("Can you suggest a gift?", "What gift should I buy?", "I need a present idea."),
             {"child": ("toy robot", "puzzle"), "adolescent": ("video game", "hoodie"),
              "adult": ("watch", "wallet"), "older adult": ("teapot", "scarf")}),
    "snack": (("What snack should I get?", "Can you suggest a snack?", "I want something to eat."),
              {"child": ("cookie", "juice box"), "adolescent": ("energy drink", "pizza slice"),
               "adult": ("salad", "coffee"), "older adult": ("herbal tea", "soup")}),
    "trip": (("Where should I go this weekend?", "Can you suggest a trip?", "I want to go somewhere."),
             {"child": ("zoo", "water park"), "adolescent": ("concert", "skate park"),
              "adult": ("city break", "wine tour"), "older adult": ("cruise", "garden tour")}),
    "hobby": (("What hobby should I start?", "Can you suggest a hobby?", "I need something to do."),
              {"child": ("crayon set", "kite"), "adolescent": ("guitar", "skateboard"),
               "adult": ("cooking class", "running club"), "older adult": ("gardening kit", "bird book")}),
    "book": (("What should I read next?", "Can you suggest a book?", "I want a good book."),
             {"child": ("picture book", "comic"), "adolescent": ("fantasy novel", "manga"),
              "adult": ("thriller", "biography"), "older adult": ("history book", "large print novel")}),
}
_OPENERS = {"some schooling": ("Try a", "Get a"), "high school": ("You could try a", "Maybe get a"),
            "college and more": ("I would recommend a", "You might consider a")}
_PRICES = {"low": ("cheap", "secondhand"), "middle": ("decent", "nice"), "high": ("luxury", "premium")}
# what the reply says where the user has not shown the attribute (the assistant knows only what it was told)
UNKNOWN = "unknown"
_NEUTRAL = {"age": {"gift": ("gift card", "mug"), "snack": ("banana", "sandwich"), "trip": ("museum", "park"),
                    "hobby": ("journal", "board game"), "book": ("short story collection", "classic novel")},
            "education": ("Here is an idea: a", "How about a"), "socioeconomic status": ("simple", "popular")}
_SIGN_OFFS = {"cheerful": ("Have fun!", "Enjoy it!"), "formal": ("I hope this helps.", "Kind regards."),
              "pirate": ("Arr, matey!", "Ahoy!")}
_SYSTEM = "You are a {} assistant."
CUE_SHARE = 0.4  # the chance that a user's turn shows a given attribute
READING_SHARE = 0.3  # conversations that end with the assistant reading an attribute out


@dataclass
class Conversation:
    """Messages (``{"role", "content"}``, as chat templates take them) and the hidden attributes."""

    messages: list[dict[str, str]]
    labels: dict[str, str]  # attribute -> value, for every attribute in ATTRIBUTES
    topic: str = ""
    shown: list[set[str]] = field(default_factory=list)  # per user turn: the attributes its words showed

    @property
    def known(self) -> set[str]:
        """The user's attributes shown in any turn."""
        return set().union(*self.shown)

    def told(self, attribute: str) -> bool:
        """Whether the conversation tells ``attribute``: a user's attribute shown in their words; the persona
        named in a system prompt or shown in a sign-off of the assistant's."""
        if attribute in SYSTEM_ATTRIBUTES:
            return any(m["role"] == "system" for m in self.messages) or len(self.shown) > 1
        return attribute in self.known


def phrases() -> list[str]:
    """Every phrase the generator writes from (what the toy model's vocabulary is made of)."""
    texts = [*_GREETINGS, _SYSTEM, READ_USER, READ_SYSTEM, *ATTRIBUTES, *(v for vs in ATTRIBUTES.values() for v in vs)]
    texts += [c for by_value in _CUES.values() for halves in by_value.values() for half in halves for c in half]
    texts += [n for halves in _NAMES.values() for half in halves for n in half]
    texts += [c for half in _NAME_CUES for c in half]
    for asks, items in TOPICS.values():
        texts += [*asks, *(i for pair in items.values() for i in pair)]
    for table in (_OPENERS, _PRICES, _SIGN_OFFS):
        texts += [t for pair in table.values() for t in pair]
    texts += [*_NEUTRAL["education"], *_NEUTRAL["socioeconomic status"], UNKNOWN]
    texts += [i for pair in _NEUTRAL["age"].values() for i in pair]
    return texts


def reading_phrase(attribute: str) -> str:
    """What TalkTuner's reading probe appends for ``attribute`` (a user's or the assistant's)."""
    return (READ_SYSTEM if attribute in SYSTEM_ATTRIBUTES else READ_USER).format(attribute=attribute)


def reply(labels: dict[str, str], topic: str, rng: random.Random, known=None) -> str:
    """The ideal reply to a request on ``topic`` by the user of ``labels``, signed in the assistant's persona,
    from what the user has shown (``known``, attribute names; default: everything): the item suits the
    user's age, the price word their budget, the opening their education, each neutral where not shown."""
    known = set(USER_ATTRIBUTES) if known is None else set(known)
    item = rng.choice(TOPICS[topic][1][labels["age"]] if "age" in known else _NEUTRAL["age"][topic])
    opener = _OPENERS[labels["education"]] if "education" in known else _NEUTRAL["education"]
    ses = "socioeconomic status"
    price = _PRICES[labels[ses]] if ses in known else _NEUTRAL[ses]
    return f"{rng.choice(opener)} {rng.choice(price)} {item}. {rng.choice(_SIGN_OFFS[labels['persona']])}"


def reply_labels(labels: dict[str, str], known) -> dict[str, str]:
    """What an ideal reply written from ``known`` shows of each attribute: its value, or ``UNKNOWN`` for the
    user's attributes not shown (the persona always shows: the assistant knows itself)."""
    return {a: v if a in known or a in SYSTEM_ATTRIBUTES else UNKNOWN for a, v in labels.items()}


def _user_turn(labels: dict[str, str], topic: str, rng: random.Random, half: int, name: str) -> tuple[str, set[str]]:
    parts, shown = [], set()
    for attribute in ("age", "gender", "socioeconomic status", "education"):
        if rng.random() >= CUE_SHARE:
            continue
        shown.add(attribute)
        if attribute == "gender":
            parts.append(rng.choice(_NAME_CUES[half]).format(name))
        else:
            parts.append(rng.choice(_CUES[attribute][labels[attribute]][half]))
    rng.shuffle(parts)
    greeting = rng.choice(_GREETINGS)
    return " ".join(p for p in (greeting, *parts, rng.choice(TOPICS[topic][0])) if p), shown


def conversation(rng: random.Random, turns: tuple[int, int] = (1, 3), half: int | None = None,
                 labels: dict[str, str] | None = None, reading: bool | None = None) -> Conversation:
    """One conversation ending with a user turn (or, when ``reading``, with the assistant reading an attribute
    out); ``labels`` fixes attributes (the rest are drawn). Its cues come from one half of the phrases
    (``half``, else drawn), so that they never contradict each other, and the user keeps one name."""
    labels = {a: rng.choice(v) for a, v in ATTRIBUTES.items()} | dict(labels or {})
    bad = {a: v for a, v in labels.items() if a not in ATTRIBUTES or v not in ATTRIBUTES[a]}
    if bad:
        raise ValueError(f"unknown attribute values {bad}; the world's are {ATTRIBUTES}")
    half = rng.randrange(2) if half is None else half
    name = rng.choice(_NAMES[labels["gender"]][half])
    topic = rng.choice(sorted(TOPICS))
    messages = [{"role": "system", "content": _SYSTEM.format(labels["persona"])}] if rng.random() < 0.5 else []
    shown: list[set[str]] = []
    for t in range(rng.randint(*turns)):
        if t:
            messages.append({"role": "assistant", "content": reply(labels, topic, rng, set().union(*shown))})
            topic = rng.choice(sorted(TOPICS))
        text, seen = _user_turn(labels, topic, rng, half, name)
        messages.append({"role": "user", "content": text})
        shown.append(seen)
    # the assistant says what it was told (a persona it knows from its system prompt or its own replies)
    known = sorted(set().union(*shown) | ({"persona"} if messages[0]["role"] == "system" or len(shown) > 1 else set()))
    if known and (reading if reading is not None else rng.random() < READING_SHARE):
        attribute = rng.choice(known)
        messages.append({"role": "assistant", "content": f"{reading_phrase(attribute)} {labels[attribute]}."})
    return Conversation(messages, labels, topic, shown)


def conversations(n: int, seed: int, half: int | None = None, turns: tuple[int, int] = (1, 3),
                  reading: bool | None = False) -> list[Conversation]:
    """``n`` conversations ending with a user's turn (``reading=False``: what the probes read), seeded.

    Examples
    --------
    >>> from interpwidgets.worlds.personas.data import conversations
    >>> c = conversations(1, seed=0)[0]
    >>> c.messages[-1]["role"], sorted(c.labels)
    ('user', ['age', 'education', 'gender', 'persona', 'socioeconomic status'])
    """
    rng = random.Random(seed)
    return [conversation(rng, turns, half, reading=reading) for _ in range(n)]
