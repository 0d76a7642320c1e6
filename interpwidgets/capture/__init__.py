"""The activation-capture engine: sites, capture, interventions, caches and dataset collection."""

from .cache import ActivationCache
from .collect import ActivationStore, collect
from .hooks import capture, intervene
from .interventions import Ablate, Add, HookContext, Intervention, Patch, Scale, Set
from .sites import Site, SiteNotFoundError, UnsupportedModelError, resolve_sites, sites

__all__ = [
    "ActivationCache", "ActivationStore", "collect", "capture", "intervene", "Ablate", "Add", "HookContext",
    "Intervention", "Patch",
    "Scale", "Set", "Site", "SiteNotFoundError", "UnsupportedModelError", "resolve_sites", "sites",
]
