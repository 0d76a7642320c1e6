"""Saliency (Kapishnikov et al. 2019, "XRAI"): pixel attributions (gradient, SmoothGrad, integrated
gradients, Blur IG), XRAI regions, Performance Information Curves and sanity checks, for any PyTorch image
classifier; integrated gradients per token for text models.

>>> from interpwidgets.saliency import Classifier, integrated_gradients, xrai, pic
"""

from .attribution import (
    BASELINES,
    Attribution,
    baseline_pictures,
    blur_ig,
    integrated_gradients,
    smoothgrad,
    vanilla_gradient,
)
from .classifier import IMAGENET_MEAN, IMAGENET_STD, Classifier
from .maps import METHODS, Maps, revealed, saliency_maps, top_classes
from .pic import THRESHOLDS, PicCurve, PicResult, blurred, pic, random_maps, random_mask, start_masks, webp_size
from .sanity import Randomization, cascading_randomization, compare_maps, compare_models, dummy_check, edges
from .tokens import TokenAttribution, token_attributions
from .xrai import XraiResult, segments, xrai, xrai_regions

__all__ = ["METHODS", "Maps", "revealed", "saliency_maps", "top_classes", "start_masks", "Attribution", "BASELINES",
           "Classifier", "IMAGENET_MEAN", "IMAGENET_STD", "PicCurve", "PicResult", "THRESHOLDS", "XraiResult",
           "baseline_pictures", "blur_ig", "blurred", "integrated_gradients", "pic", "random_mask", "random_maps",
           "segments", "smoothgrad", "vanilla_gradient", "webp_size", "xrai", "xrai_regions", "Randomization",
           "cascading_randomization", "compare_maps", "compare_models", "dummy_check", "edges", "TokenAttribution",
           "token_attributions"]
