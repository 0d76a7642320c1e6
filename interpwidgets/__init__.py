"""interpwidgets: Jupyter widgets for seeing inside neural networks, on one activation-capture engine.

>>> import interpwidgets as iw
>>> iw.sites, iw.capture, iw.intervene, iw.collect, iw.fit_probes  # doctest: +ELLIPSIS
(...)
"""

from . import datasets
from .attention import AttentionPatterns, AttentionView
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
from .iti import ITI, ITIView
from .probes import ProbeDashboard, ProbeResult, fit_probes, mass_mean_direction, random_direction

__version__ = "0.1.0"

__all__ = [
    "AttentionPatterns", "AttentionView", "ITI", "ITIView", "ProbeDashboard", "datasets", "Ablate", "ActivationCache",
    "ActivationStore", "collect", "ProbeResult", "fit_probes", "mass_mean_direction", "random_direction", "Add",
    "HookContext", "Intervention", "Patch", "Scale", "Set", "Site", "SiteNotFoundError", "UnsupportedModelError",
    "capture", "intervene", "resolve_sites", "sites",
]
