"""SceneProbeView without a browser: what the timeline serves, the edit it runs when the mask is dragged or
the depth slider moves, and the heatmap linked both ways (the browser tests show it drawn and used)."""

from __future__ import annotations

import models
import numpy as np
import pytest
import torch
import traitlets

from interpwidgets.probes.spatial import per_image_scores
from interpwidgets.scenes.widget import SceneProbeView
from interpwidgets.transport import decode


def _brightness(images):
    return images.mean(-1)


def _bright_mask(images):  # per image, as a real estimator labels each image on its own
    b = images.mean(-1)
    return b > np.median(b, axis=(1, 2), keepdims=True)


@pytest.fixture(scope="module")
def view():
    pipe = models.sd_pipeline()
    return SceneProbeView(pipe, [f"a red car {i}" for i in range(6)], depth=_brightness, saliency=_bright_mask,
                          steps=3, epochs=1, iters=3, progress=False, background=False)


def test_the_timeline_serves_every_step_of_an_image_at_a_layer(view):
    t, s = view.timeline, view.study
    assert t.steps == 3 and t.size == [16, 16] and t.layer == s.grid.best("dice")[0]
    assert t.image in s.split["test"]  # it opens on a test image
    reply, buffers = t._respond("frames", {"image": 2, "layer": "layers.1.attn.out"})
    assert "error" not in reply and len(buffers) == 6  # the arrays travel as binary buffers
    r = t._frames(image=2, layer="layers.1.attn.out")
    assert r["split"] == next(k for k, v in s.split.items() if 2 in v)
    np.testing.assert_array_equal(decode(r["label_mask"]), s.mask[2].astype(np.uint8))
    assert decode(r["prediction"]).shape == (3, 16, 16, 3) and decode(r["depth"]).shape == (3, 16, 16)
    probes = s.grid.probes["mask"]["layers.1.attn.out"]
    want = per_image_scores(probes, s.run.activations["layers.1.attn.out"][2:3], torch.as_tensor(s.mask[2:3]))[0]
    np.testing.assert_allclose(r["dice"], want, atol=1e-3)  # the probe's own score, per step
    bad, _ = t._respond("frames", {"image": 0, "layer": "layers.9.attn.out"})
    assert "no probes for layer 'layers.9.attn.out'" in bad["error"]


def test_dragging_the_mask_or_pushing_depth_generates_the_image_again(view):
    t = view.timeline
    t.image = 1
    t.dx = 3  # (background=False: the edit runs on this thread)
    assert t.edits == 1 and not t.editing and t.edit_scores["dx"] == 3 and t.edit_scores["image"] == 1
    assert {"dice_target", "dice_old", "disparity_before", "disparity_after"} <= set(t.edit_scores)
    got = {k: decode(v) for k, v in t._edited(edits=1).items() if isinstance(v, dict)}
    np.testing.assert_array_equal(got["target"][:, 3:], got["old_mask"][:, :-3])
    assert np.abs(got["after"].astype(int) - got["before"].astype(int)).max() > 0
    t.push = 1.0
    assert t.edits == 2 and t.edit_scores["push"] == 1.0 and t.progress == 1.0
    assert models.all_hooks(t._pipe.unet) == 0


def test_the_heatmap_and_the_timeline_follow_each_other(view):
    t, fig = view.timeline, view.heatmap
    assert len(fig.data) == 4 and np.asarray(fig.data[0].z).shape == (4, 3)  # layers x steps, Dice and RMSE
    np.testing.assert_allclose(np.asarray(fig.data[1].z), view.study.grid.choose["rmse"], atol=1e-4)
    t.layer, t.step = "layers.2.attn.out", 1
    assert fig.data[2].x == (1,) and fig.data[2].y == ("layers.2",)  # the marker moved
    points = type("Points", (), {"point_inds": [(3, 2)]})()
    view._clicked(fig.data[0], points, None)  # a click on layer 3, step 2
    assert (t.layer, t.step) == ("layers.3.attn.out", 2) and fig.data[3].y == ("layers.3",)


def test_bad_settings_are_refused_with_what_is_valid(view):
    t = view.timeline
    with pytest.raises(traitlets.TraitError, match=r"image must be between 0 and 5, got 9"):
        t.image = 9
    with pytest.raises(traitlets.TraitError, match=r"step must be between 0 and 2"):
        t.step = 3
    with pytest.raises(traitlets.TraitError, match="layer must be one of"):
        t.layer = "layers.7.attn.out"
    with pytest.raises(ValueError, match="no depth or saliency estimator"):
        SceneProbeView(models.sd_pipeline(), ["a car"], progress=False)
    bad, _ = t._respond("frames", {"image": 9, "layer": t.layer})
    assert "image must be between 0 and 5, got 9" in bad["error"]


def test_an_edit_score_that_is_not_a_number_reaches_the_view_as_null(view, monkeypatch):
    """The estimator may find no object after an edit (its disparity there is NaN): JSON has no NaN."""
    import json

    from interpwidgets.scenes import widget

    real = widget.edit_scene

    def no_object_after(*args, **kwargs):
        e = real(*args, **kwargs)
        e.scores["disparity_after"] = float("nan")
        return e

    monkeypatch.setattr(widget, "edit_scene", no_object_after)
    t = view.timeline
    t.dy = 2 if t.dy != 2 else 1
    assert t.edit_scores["disparity_after"] is None
    json.dumps(t.edit_scores, allow_nan=False)


def test_an_exported_page_carries_the_frames_on_screen_and_the_latest_edit(view):
    t = view.timeline
    snap = t._snapshot()
    keys = [k for k in snap if k != "exported"]
    assert f'frames{{"image":{t.image},"layer":"{t.layer}"}}' in keys
    assert any(k.startswith("edited") for k in keys) == (t.edit is not None)


def test_a_newer_change_stops_the_edit_under_way_and_another_image_starts_clean():
    """In the background (as in a notebook): a second drag while the first edit runs stops the first, so
    only the last setting's edit finishes; changing the image clears the edit panel."""
    import time

    from interpwidgets.scenes.widget import SceneTimeline

    pipe = models.sd_pipeline()
    s = SceneProbeView(pipe, [f"a red car {i}" for i in range(6)], depth=_brightness, saliency=_bright_mask,
                       steps=3, epochs=1, iters=3, progress=False, background=False).study
    t = SceneTimeline(pipe, s, depth=_brightness, saliency=_bright_mask, iters=3)
    slow = pipe.unet.register_forward_pre_hook(lambda m, a: time.sleep(0.3))
    try:
        t.dx = 2
        deadline = time.time() + 30
        while not t.editing and time.time() < deadline:
            time.sleep(0.01)
        t.dx = 4  # while the first edit runs
        t.wait(120)
    finally:
        slow.remove()
    assert t.edits == 1 and t.edit_scores["dx"] == 4 and t.error == ""
    t.image = 0 if t.image else 1
    assert (t.dx, t.dy, t.push, t.edit_scores, t.edit) == (0, 0, 0.0, {}, None) and t.edits == 1
    t.close()
