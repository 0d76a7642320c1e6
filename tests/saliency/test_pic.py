"""Performance Information Curves: the PAIR package's blurred images and AUCs on the same maps and masks."""

import numpy as np
import pytest

from interpwidgets.saliency import blurred, pic, random_maps, random_mask


def test_blurred_images_match_pair(pictures, pair):
    _, ppic = pair
    mask = random_mask(32, 32, 0.05, seed=1)
    assert np.array_equal(blurred(pictures[0], mask), ppic.create_blurred_image(pictures[0], mask))


def test_auc_matches_pair_and_aggregates_by_median(clf, pictures, pair):
    _, ppic = pair
    maps = {"random": random_maps(3, 32, seed=1), "ordered": np.tile(np.arange(32.0), (3, 32, 1))}
    rng = np.random.default_rng(0)
    masks = np.stack([random_mask(32, 32, 0.01, rng) for _ in range(3)])
    ours = pic(clf, pictures, maps, masks=masks, min_score=0.0, progress=False)
    target = ours.targets
    theirs = {}
    for name, m in maps.items():
        theirs[name] = []
        for i in range(3):
            try:
                r = ppic.compute_pic_metric(pictures[i], m[i], masks[i],
                                            lambda ims, i=i: clf.predict(ims)[:, target[i]], list(ours.thresholds),
                                            min_pred_value=0.0)
            except ppic.ComputePicMetricError:
                assert i in ours.skipped["sic"]
                continue
            theirs[name].append(r)
            assert abs(r.auc - ours.curves["sic"][name][i].auc) < 1e-4
        if theirs[name]:
            assert abs(ppic.aggregate_individual_pic_results(theirs[name]).auc - ours.auc(name)) < 1e-4


def test_bad_maps_are_named(clf, pictures):
    with pytest.raises(ValueError, match=r"PIC needs one \[32, 32\] map per picture"):
        pic(clf, pictures, {"ig": np.zeros((3, 16, 16))}, progress=False)
    with pytest.raises(ValueError, match="NaN"):
        pic(clf, pictures, {"ig": np.full((3, 32, 32), np.nan)}, progress=False)
    with pytest.raises(ValueError, match="uint8 pictures"):
        pic(clf, pictures.astype(float), {"ig": np.zeros((3, 32, 32))}, progress=False)
