"""XRAI: the PAIR package's segments and region order, given the same attributions; bad input."""

import numpy as np
import pytest

from interpwidgets.datasets import sample_images
from interpwidgets.saliency import Classifier, segments, xrai, xrai_regions
from interpwidgets.zoo import Preprocess

from .conftest import tiny_net


@pytest.fixture(scope="module")
def photo():
    return Preprocess(256, 224, (0.5,) * 3, (0.5,) * 3).picture(sample_images()["coffee"])


def test_segments_and_region_order_match_pair(photo, pair):
    core, _ = pair
    from saliency.core import xrai as pair_xrai

    theirs = pair_xrai._get_segments_felzenszwalb(photo)
    masks = segments(photo)
    assert np.array_equal(np.stack(theirs), masks)
    rng = np.random.default_rng(0)
    attr = rng.normal(size=photo.shape[:2]).cumsum(0)  # smooth-ish, so regions differ in gain
    for algorithm, run in (("full", pair_xrai.XRAI._xrai), ("fast", pair_xrai.XRAI._xrai_fast)):
        their_map, their_ranks = run(attr, theirs, min_pixel_diff=50)
        ours = xrai_regions(attr, masks, algorithm=algorithm)
        assert np.array_equal(ours.ranks, their_ranks), algorithm
        np.testing.assert_allclose(ours.attribution, their_map, rtol=1e-9)


def test_greedy_search_accounts_for_overlap():
    attr = np.zeros((30, 30))
    attr[:10, :10] = 5.0  # a hot corner
    masks = np.zeros((3, 30, 30), bool)
    masks[0, :10, :20] = True  # contains the corner: the best by itself
    masks[1, :10, :15] = True  # also contains it, denser
    masks[2, 20:, 20:] = True
    full = xrai_regions(attr, masks, min_pixel_diff=1)
    assert full.regions[0, 0, 0] and full.regions[0].sum() == 150  # the denser mask first
    assert full.regions.sum(0).max() == 1 and full.regions.any(0).all()
    assert list(full.gains) == sorted(full.gains, reverse=True)


def test_xrai_on_a_model_and_bad_input(pair):
    clf = Classifier(tiny_net(), Preprocess(64, 64, (0.5,) * 3, (0.5,) * 3))
    pics = np.random.default_rng(0).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    (r,) = xrai(clf, pics, steps=6, progress=False)
    assert r.reveal(0.3).mean() >= 0.3 and r.reveal(1.0).all() and not r.reveal(0).any()
    with pytest.raises(ValueError, match="NaN"):
        xrai_regions(np.full((8, 8), np.nan), np.ones((1, 8, 8), bool))
    with pytest.raises(ValueError, match="single colour"):
        segments(np.zeros((16, 16, 3)))
