"""interpwidgets: Jupyter widgets for seeing inside neural networks, on one activation-capture engine.

The engine, the probes and the methods import without the widget stack (anywidget, ipywidgets): the
widget classes are loaded when first used (``iw.AttentionView``), so scripts and training jobs that only
capture, probe or edit never import it (``from interpwidgets import *`` loads the widgets too).

>>> import interpwidgets as iw
>>> iw.sites, iw.capture, iw.intervene, iw.collect, iw.fit_probes  # doctest: +ELLIPSIS
(...)
"""

import importlib

from . import datasets, zoo
from .capture import (
    Ablate,
    ActivationCache,
    ActivationStore,
    Add,
    HookContext,
    Intervention,
    Patch,
    Scale,
    Set,
    Site,
    SiteNotFoundError,
    UnsupportedModelError,
    capture,
    collect,
    intervene,
    resolve_sites,
    sites,
)
from .dashboard import Attribute, ChatProbes, ChatSession
from .iti.method import ITI
from .probes.probes import ProbeResult, fit_probes, mass_mean_direction, random_direction

__version__ = "0.1.0"

__all__ = [
    "AttentionPatterns", "AttentionView", "ITI", "ITIView", "OthelloView", "ProbeDashboard", "SceneProbeView",
    "SaliencyView", "ChatDashboard", "Attribute", "ChatProbes", "ChatSession",
    "datasets", "zoo",
    "Ablate",
    "ActivationCache", "ActivationStore", "collect", "ProbeResult", "fit_probes", "mass_mean_direction",
    "random_direction", "Add",
    "HookContext", "Intervention", "Patch", "Scale", "Set", "Site", "SiteNotFoundError", "UnsupportedModelError",
    "capture", "intervene", "resolve_sites", "sites",
]

_WIDGETS = {"AttentionPatterns": "attention.patterns", "AttentionView": "attention.widget", "ITIView": "iti.widget",
            "ChatDashboard": "dashboard.widget",
            "OthelloView": "othello.widget", "ProbeDashboard": "probes.widget", "SaliencyView": "saliency.widget",
            "SceneProbeView": "scenes.widget"}


def __getattr__(name: str):
    """The widget classes, imported on first use (they need anywidget and ipywidgets)."""
    if name in _WIDGETS:
        return getattr(importlib.import_module(f".{_WIDGETS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WIDGETS))  # tab completion lists the widgets too
