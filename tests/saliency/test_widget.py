"""SaliencyView without a browser: the maps it reveals, its bad inputs, and nothing lost on a bad request."""

import numpy as np
import pytest
import traitlets

from interpwidgets.saliency import saliency_maps
from interpwidgets.saliency.widget import SaliencyView


def test_reveal_shows_top_pixels_or_whole_xrai_regions(clf, pictures):
    maps = saliency_maps(clf, pictures, np.array([0, 1, 2]), ["gradient", "XRAI", "random"], progress=False)
    assert list(maps.maps) == ["gradient", "XRAI", "random"] and maps.maps["XRAI"].shape == (3, 32, 32)
    g = maps.maps["gradient"][1]
    shown = maps.reveal("gradient", 1, 0.25)
    assert abs(shown.mean() - 0.25) < 0.01 and g[shown].min() >= g[~shown].max()  # the top quarter of the map
    x = maps.reveal("XRAI", 1, 0.25)
    ranks = maps.regions[1].ranks
    assert x.mean() >= 0.25 and len(np.unique(ranks[x])) == ranks[x].max()  # whole regions, the first ones
    assert all(x[ranks == r].all() or not x[ranks == r].any() for r in np.unique(ranks))
    assert not maps.reveal("XRAI", 1, 0).any() and maps.reveal("XRAI", 1, 1).all()
    with pytest.raises(ValueError, match="between 0 and 1"):
        maps.reveal("gradient", 0, 1.5)
    with pytest.raises(ValueError, match="give distinct names among"):
        saliency_maps(clf, pictures, np.array([0, 1, 2]), ["IG", "GradCAM"], progress=False)


def test_xrai_is_built_on_the_same_calls_ig(clf, pictures, monkeypatch):
    import importlib

    maps_module = importlib.import_module("interpwidgets.saliency.maps")
    xrai_module = importlib.import_module("interpwidgets.saliency.xrai")  # (the package's ``xrai`` is the function)

    calls = []
    real = maps_module.integrated_gradients
    for module in (maps_module, xrai_module):
        monkeypatch.setattr(module, "integrated_gradients", lambda *a, **k: calls.append(k) or real(*a, **k))
    saliency_maps(clf, pictures, np.array([0, 1, 2]), ["XRAI", "IG"], steps=6, progress=False)
    assert len(calls) == 1 and calls[0]["steps"] == 6  # one IG, with the call's steps, serves both
    saliency_maps(clf, pictures, np.array([0, 1, 2]), ["XRAI"], steps=6, baselines="white", progress=False)
    assert len(calls) == 2 and calls[1]["baselines"] == "white" and calls[1]["steps"] == 6


def test_the_view_computes_reveals_and_keeps_its_work_on_bad_requests(clf, pictures):
    view = SaliencyView(clf, pictures, methods=("IG", "random"), steps=8, min_score=0, background=False)
    p = view.panel
    assert p.ready and [r["method"] for r in p.pic["table"]] == ["IG", "random"] and len(p.gaps["IG"]) == 3
    reply, buffers = p._respond("revealed", {"index": 2, "method": "IG", "level": 1000})
    got = reply["result"]
    assert got["fraction"] == 1.0 and buffers  # everything shown: the picture itself, sent as a buffer
    assert np.frombuffer(buffers[0], np.uint8).reshape(32, 32, 3).tolist() == pictures[2].tolist()
    reply, buffers = p._respond("revealed", {"index": 2, "method": "IG", "level": 100})
    image, shown = (np.frombuffer(b, np.uint8) for b in buffers[:2])
    image, shown = image.reshape(32, 32, 3), shown.reshape(32, 32).astype(bool)
    assert (image[shown] == pictures[2][shown]).all()  # the top tenth as it is
    assert np.abs(image[~shown].astype(int) - pictures[2][~shown]).mean() > 20  # the rest rebuilt from a few pixels
    view.index, view.method, view.reveal = 1, "random", 0.3  # the view's traits are the panel's
    assert (p.index, p.method, p.reveal) == (1, "random", 0.3)
    with pytest.raises(traitlets.TraitError, match="index must be between 0 and 2"):
        view.index = 9
    assert view.index == p.index == 1  # a bad value leaves the view and the panel as they were
    before = p.result
    reply, _ = p._respond("revealed", {"index": 7, "method": "IG", "level": 10})
    assert "images 0 to 2" in reply["error"] and "images 0 to 2" in p.error
    assert p.result == before and p.ready  # the computed maps and curves are kept
    for name, value in (("index", 3), ("method", "XRAI"), ("reveal", 1.5), ("layout_mode", "grid")):
        with pytest.raises(traitlets.TraitError, match=name):
            setattr(p, name, value)
    curves = p.curves(1)
    assert set(curves) == {"IG", "random"} and len(curves["IG"]["sic"]["median"]) == 101
    assert len(view.figure.data) >= 2 and "AUC" in view.figure.data[0].name


def test_bad_inputs_are_named(clf, pictures):
    with pytest.raises(ValueError, match="give distinct names among"):
        SaliencyView(clf, pictures, methods=("IG", "LIME"), background=False)
    with pytest.raises(ValueError, match="out of range: the model has 3 classes"):
        SaliencyView(clf, pictures, target=5, background=False)
    with pytest.raises(ValueError, match="give the images"):
        SaliencyView(clf, background=False)
    with pytest.raises(ValueError, match="give a list of texts"):
        SaliencyView.text(None, None, [])
    view = SaliencyView(clf, pictures, methods=("gradient",), background=False)
    with pytest.raises(ValueError, match="the sanity check runs one of \\['gradient'\\]"):
        view.panel.run_sanity("IG")


def test_progress_only_grows_whatever_the_order_of_the_methods(clf, pictures):
    from interpwidgets.saliency.widget import SaliencyPanel

    panel = SaliencyPanel(clf, pictures, np.array([0, 1, 2]), ("XRAI", "gradient"), steps=4, min_score=0,
                          background=False)
    seen = []
    panel.observe(lambda change: seen.append(change["new"]), names="progress")
    panel.compute()
    assert panel.ready and not panel.error
    assert len(seen) > 3 and seen == sorted(seen), seen
    with pytest.raises(ValueError, match="give distinct names among"):
        SaliencyPanel(clf, pictures, np.array([0, 1, 2]), ("IG", "LIME"), background=False)


def test_a_failed_pic_keeps_the_maps_and_the_figure_says_so(clf, pictures, monkeypatch):
    import importlib

    widget = importlib.import_module("interpwidgets.saliency.widget")

    def broken(*args, **kwargs):
        raise RuntimeError("no PIC today")

    monkeypatch.setattr(widget, "pic", broken)
    view = SaliencyView(clf, pictures, methods=("gradient",), min_score=0, background=False)
    p = view.panel
    assert p.pic_state == "failed" and "no PIC today" in p.error and p.ready  # the maps stay
    assert "the job failed" in view.figure.layout.title.text
    assert p._respond("image", {"index": 0})[0]["result"]["index"] == 0


def test_xrai_reports_its_progress_to_the_end(clf, pictures):
    from interpwidgets.saliency import xrai
    from interpwidgets.saliency.xrai import IG_SHARE

    seen = []
    xrai(clf, pictures, steps=4, batch_size=4, progress=False, on_progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and max(f for f in seen if f < 1) >= IG_SHARE
    assert any(f <= IG_SHARE / 2 for f in seen)  # IG's share comes first, step by step
