"""Real text, pictures and questions that install offline, for demos and tests.

Nothing here downloads: the sentences come from the docstrings of Python's standard library, which is
plain technical English written by many people over thirty years; the pictures are the ones that
scikit-image and scikit-learn ship inside their wheels (their licenses: ``sample_images``).
"""

from __future__ import annotations

import importlib
import inspect
import random
import re
import warnings

__all__ = ["stdlib_sentences", "sample_images", "misconceptions"]

# A fixed list, so that the corpus does not depend on what else happens to be imported.
_MODULES = (
    "abc", "argparse", "array", "ast", "asyncio", "base64", "bisect", "calendar", "cmd", "codecs", "collections",
    "colorsys", "configparser", "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib",
    "email", "enum", "filecmp", "fnmatch", "fractions", "functools", "getopt", "gettext", "glob", "gzip",
    "hashlib", "heapq", "hmac", "html", "http.client", "imaplib", "inspect", "io", "ipaddress", "itertools",
    "json", "locale", "logging", "mailbox", "mimetypes", "netrc", "numbers", "operator", "optparse", "os",
    "pathlib", "pickle", "pkgutil", "platform", "plistlib", "pprint", "queue", "quopri", "random", "re",
    "sched", "secrets", "selectors", "shelve", "shlex", "shutil", "signal", "smtplib", "socket", "sqlite3",
    "statistics", "string", "struct", "subprocess", "tarfile", "tempfile", "textwrap", "threading", "timeit",
    "tokenize", "traceback", "types", "typing", "unittest", "urllib.parse", "uuid", "warnings", "wave",
    "weakref", "zipfile",
)
_SENTENCE_END = re.compile(r"(?<=[a-z)]{2}[.!?])\s+(?=[A-Z])")  # not after "e.g." or "i.e."
_PLAIN = re.compile(r"^[A-Z][A-Za-z0-9 ,;:'()\-./]*[a-z)]{2}[.!?]$")  # prose, not code or tables


def stdlib_sentences(n: int | None = 300, seed: int = 0, min_words: int = 5, max_words: int = 30) -> list[str]:
    """English sentences from the docstrings of Python's standard library (offline, deterministic).

    Only plain sentences are kept (capitalized, ending in a full stop, no code, no markup); duplicates
    are dropped. The pool holds a few thousand sentences; the exact set depends on the Python version.

    Parameters
    ----------
    n
        How many to return (a seeded random sample); ``None`` returns all of them, sorted.
    seed
        Seed of the sample.
    min_words, max_words
        Sentence length bounds, in words.

    Examples
    --------
    >>> from interpwidgets.datasets import stdlib_sentences
    >>> texts = stdlib_sentences(50)
    >>> len(texts), all(t[0].isupper() and t.endswith((".", "!", "?")) for t in texts)
    (50, True)
    """
    pool: set[str] = set()
    for name in _MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:  # a build without e.g. sqlite3
            continue
        docs = [inspect.getdoc(module)]
        with warnings.catch_warnings():  # reading e.g. typing.io warns that it is deprecated
            warnings.simplefilter("ignore", DeprecationWarning)
            for attr, obj in sorted(vars(module).items()):
                if not attr.startswith("_") and (inspect.isclass(obj) or inspect.isroutine(obj)):
                    docs.append(inspect.getdoc(obj))
        for doc in filter(None, docs):
            for paragraph in doc.split("\n\n"):
                text = " ".join(paragraph.split())
                for sentence in _SENTENCE_END.split(text):
                    if min_words <= len(sentence.split()) <= max_words and _PLAIN.match(sentence):
                        pool.add(sentence)
    sentences = sorted(pool)
    if n is None:
        return sentences
    if n > len(sentences):
        raise ValueError(f"asked for {n} sentences; this Python's standard library offers {len(sentences)}")
    return random.Random(seed).sample(sentences, n)


# scikit-image's bundled colour photographs, as its docstrings credit them: astronaut (NASA, public domain),
# chelsea (Stefan van der Walt, CC0), coffee (Rachel Michetti, CC0), rocket (SpaceX, public domain),
# motorcycle (the Middlebury 2014 stereo set), hubble_deep_field (NASA, public domain); and scikit-learn's
# two sample photographs (china, by danielbuechele, and flower, by vultilion, CC-BY 2.0 as its README says).
_SKIMAGE = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle", "hubble_deep_field")


def sample_images() -> dict:
    """Eight real photographs, ``{name: [H, W, 3] uint8 array}``, from scikit-image and scikit-learn (both
    ship them in their wheels, so this never downloads).

    >>> images = sample_images()
    >>> list(images)[:3], images["coffee"].shape
    (['astronaut', 'chelsea', 'coffee'], (400, 600, 3))
    """
    try:
        import skimage.data
        from sklearn.datasets import load_sample_images
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(f"sample_images() reads the pictures that scikit-image and scikit-learn ship: "
                                  f"pip install scikit-image scikit-learn ({err.name} is missing)") from err
    out = {}
    for name in _SKIMAGE:
        image = skimage.data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skimage.data, name)()
        out[name] = image[..., :3]
    sk = load_sample_images()
    for path, image in zip(sk.filenames, sk.images, strict=True):
        out[path.rsplit("/", 1)[-1].removesuffix(".jpg")] = image
    return out


def misconceptions() -> list[dict]:
    """298 questions about common misconceptions, each with a true answer and the false answer people
    often give: ``{"topic", "question", "true", "false"}``, in a fixed order (topics: body, animals,
    history, geography, science, food, words, tech, money, nature).

    The two answers of each pair were written to match in length and form: the same structure, word
    counts at most two apart, the same plain and confident tone, no hedging words on one side only (an
    earlier version's true answers ran longer and were hedged, which favoured the false answer under a
    summed log-likelihood). The true answer is "Yes" in about a fifth of the yes/no questions.

    Provenance: written for interpwidgets by its developers (December 2026), in our own words, as a
    small true/false set for Inference-Time Intervention on real chat models. The
    beliefs are widely known ones (many are also listed in Wikipedia's "List of common misconceptions",
    and TruthfulQA covers similar ground); no text is taken from either. Items whose truth is disputed,
    weak items and near-duplicates were left out after a review (adult neurogenesis, chocolate and acne,
    screens and myopia, among others).

    >>> items = misconceptions()
    >>> len(items), sorted(items[0])
    (298, ['false', 'question', 'topic', 'true'])
    """
    import csv
    from importlib.resources import files

    with (files("interpwidgets") / "data" / "misconceptions.tsv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
