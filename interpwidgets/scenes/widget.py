"""SceneProbeView: a denoising timeline with the probes' depth and salient-object maps beside the labels, the
layers x steps quality heatmap (plotly) linked to it, and an edit panel (drag the object's mask, push it
nearer or farther) that generates the image again in the background and shows what changed.

The view is a layout of two widgets: :class:`SceneTimeline` (our own front end: images, maps, the edit
panel) and a plotly ``FigureWidget`` heatmap; a click on the heatmap picks the layer and step the
timeline shows, and the timeline's choice is marked on the heatmap. All the science is in
:mod:`~interpwidgets.scenes.study` and :mod:`~interpwidgets.scenes.method`.
"""

from __future__ import annotations

import threading

import ipywidgets
import numpy as np
import torch
import traitlets

from ..transport import encode, json_grid
from ..widgets import Widget, serves
from ..widgets.jobs import Job
from .method import dice
from .study import SceneEdit, Study, edit_scene, study

__all__ = ["SceneTimeline", "SceneProbeView"]


def _uint8(images: np.ndarray) -> np.ndarray:
    return (np.clip(images, 0, 1) * 255 + 0.5).astype(np.uint8)


class SceneTimeline(Widget):
    """The timeline and the edit panel of one :class:`~interpwidgets.scenes.study.Study` (see
    :class:`SceneProbeView`, which lays it out with the heatmap). ``dx``, ``dy`` (the mask's move, in
    pixels) and ``push`` (the depth edit's magnitude) start a new generation when they change; a newer
    change stops the one under way."""

    _bundle = "scene_view"

    prompts = traitlets.List([]).tag(sync=True)
    layers = traitlets.List([]).tag(sync=True)
    steps = traitlets.Int(0).tag(sync=True)
    size = traitlets.List([]).tag(sync=True)  # [H, W] of the images
    image = traitlets.Int(0).tag(sync=True)
    layer = traitlets.Unicode("").tag(sync=True)
    step = traitlets.Int(0).tag(sync=True)
    quality = traitlets.Dict({}).tag(sync=True)  # {"dice": [layers][steps], "rmse": ...} on the choose split
    chosen = traitlets.Dict({}).tag(sync=True)  # {"dice": {"layer", "step"}, "rmse": ...} (choose split)
    dx = traitlets.Int(0).tag(sync=True)
    dy = traitlets.Int(0).tag(sync=True)
    push = traitlets.Float(0.0).tag(sync=True)
    edit_steps = traitlets.Int(5).tag(sync=True)  # the first N denoising steps are edited
    edit_layers = traitlets.List([]).tag(sync=True)
    editing = traitlets.Bool(False).tag(sync=True)
    progress = traitlets.Float(0.0).tag(sync=True)
    edit_scores = traitlets.Dict({}).tag(sync=True)  # the latest edit's measured change, with its settings
    edits = traitlets.Int(0).tag(sync=True)  # finished edits: the view asks for the latest one's images

    def __init__(self, pipe, s: Study, *, depth, saliency, edit_layers: list[str] | None = None,
                 iters: int = 128, background: bool = True, **kwargs):
        from .method import decoder_layers

        self._pipe, self._study, self._estimators = pipe, s, {"depth": depth, "saliency": saliency}
        self._iters, self._lock = iters, threading.Lock()
        self._edit: SceneEdit | None = None
        g = s.grid
        layers = edit_layers or [n for n in decoder_layers(pipe) if n in g.layers] or g.layers
        best = g.best("dice")
        super().__init__(prompts=list(s.run.prompts), layers=list(g.layers), steps=g.steps,
                         size=list(s.mask.shape[1:]), layer=best[0], step=best[1],
                         quality={m: json_grid(g.choose[m]) for m in ("dice", "rmse")},
                         chosen={m: dict(zip(("layer", "step"), g.best(m), strict=True)) for m in ("dice", "rmse")},
                         edit_layers=layers, edit_steps=min(5, g.steps), image=int(s.split["test"][0]), **kwargs)
        self._job = Job(self, "edit", background=background, progress="progress")

    @traitlets.validate("image")
    def _valid_image(self, proposal):
        if not 0 <= proposal["value"] < len(self.prompts):
            raise traitlets.TraitError(f"image must be between 0 and {len(self.prompts) - 1}, got {proposal['value']}")
        return proposal["value"]

    @traitlets.validate("layer")
    def _valid_layer(self, proposal):
        if self.layers and proposal["value"] not in self.layers:
            raise traitlets.TraitError(f"layer must be one of {self.layers}, got {proposal['value']!r}")
        return proposal["value"]

    @traitlets.validate("step")
    def _valid_step(self, proposal):
        if not 0 <= proposal["value"] < max(self.steps, 1):
            raise traitlets.TraitError(f"step must be between 0 and {self.steps - 1}, got {proposal['value']}")
        return proposal["value"]

    @traitlets.validate("edit_steps")
    def _valid_edit_steps(self, proposal):
        if not 1 <= proposal["value"] <= max(self.steps, 1):
            raise traitlets.TraitError(f"edit_steps must be between 1 and {self.steps}, got {proposal['value']}")
        return proposal["value"]

    # ------------------------------------------------------------------ what the view asks for
    @serves("frames")
    def _frames(self, image: int, layer: str) -> dict:
        """Every step of one image at one layer: the decoded prediction, the probes' depth and mask (as a
        probability) and their scores against the labels, and the labels themselves."""
        s = self._study
        if not 0 <= image < len(self.prompts):
            raise ValueError(f"image must be between 0 and {len(self.prompts) - 1}, got {image}")
        if layer not in s.grid.probes["mask"]:
            raise ValueError(f"no probes for layer {layer!r}; the layers are {s.grid.layers}")
        acts = s.run.activations[layer][image:image + 1].float()  # [1, steps, d, h, w]
        with torch.no_grad():
            mask = torch.sigmoid(s.grid.probes["mask"][layer].predict(acts))[0].numpy()  # [steps, H, W]
            depth = s.grid.probes["depth"][layer].predict(acts)[0].numpy()
        label_mask, label_depth = s.mask[image], s.depth[image]
        rmse = np.sqrt(((depth - label_depth) ** 2).mean((1, 2)))
        part = next(k for k, v in s.split.items() if image in v)
        return {"image": image, "layer": layer, "split": part,
                "prediction": encode(_uint8(s.run.predictions[image])), "final": encode(_uint8(s.run.images[image])),
                "depth": encode(depth.astype(np.float16)), "mask": encode(mask.astype(np.float16)),
                "label_depth": encode(label_depth.astype(np.float16)),
                "label_mask": encode(label_mask.astype(np.uint8)),
                # NaN (shown as n/a) for an image without an object, as the probes' scores leave it out
                "dice": json_grid(dice(mask > 0.5, np.broadcast_to(label_mask, mask.shape))),
                "rmse": rmse.round(4).tolist()}

    @serves("edited")
    def _edited(self, edits: int) -> dict:
        """The latest edit's images and masks (``edits``: the count the view saw, so a stale answer is known)."""
        e = self._edit
        if e is None:
            raise ValueError("no edit has finished yet: drag the object's mask or move the depth slider")
        return {"edits": self.edits, "before": encode(_uint8(e.before)), "after": encode(_uint8(e.after)),
                "old_mask": encode(e.old_mask.astype(np.uint8)), "target": encode(e.target.astype(np.uint8)),
                "after_mask": encode(e.after_mask.astype(np.uint8))}

    def _snapshot_requests(self):
        """An exported page carries the frames on screen and the latest edit."""
        yield "frames", {"image": self.image, "layer": self.layer}
        if self._edit is not None:
            yield "edited", {"edits": self.edits}

    # ------------------------------------------------------------------ editing
    @traitlets.observe("dx", "dy", "push", "edit_steps")
    def _edit_again(self, change) -> None:
        if hasattr(self, "_job") and not getattr(self, "_quiet", False):  # not while the traits are first set
            self.regenerate()

    @traitlets.observe("image")
    def _new_image(self, change) -> None:
        """Another image: the edit under way stops, and the edit panel starts from no edit."""
        if not hasattr(self, "_job"):
            return
        self._job.cancel()
        self._quiet = True
        try:
            self.dx, self.dy, self.push = 0, 0, 0.0
        finally:
            self._quiet = False
        with self._lock:  # an edit of the old image that finished meanwhile is not kept (see regenerate)
            self._edit, self.edit_scores = None, {}

    @serves("cancel")
    def cancel(self) -> dict:
        """Stop the edit under way (it ends at its next denoising step); the view's stop button calls this."""
        self._job.cancel()
        return {}

    def regenerate(self) -> None:
        """Generate the current image again under the current edit, in the background (a newer call stops it)."""
        settings = {"image": self.image, "dx": self.dx, "dy": self.dy, "push": self.push,
                    "steps": self.edit_steps, "layers": list(self.edit_layers)}
        total = self._study.run.steps

        def work(run):
            def step(done: int) -> None:
                run.check()
                run.progress(done / total)

            run.check()
            self.editing = True
            try:
                e = edit_scene(self._pipe, self._study, settings["image"], dx=settings["dx"], dy=settings["dy"],
                               push=settings["push"], layers=settings["layers"], steps=range(settings["steps"]),
                               iters=self._iters, on_step=step, **self._estimators)
            finally:
                self.editing = False
            with self._lock:  # kept only if its image is still the one shown (_new_image clears under it)
                run.check()
                if settings["image"] != self.image:
                    return
                self._edit = e
                self.edit_scores = {**{k: json_grid(v) for k, v in e.scores.items()}, **settings}
                self.edits += 1

        self._job.start(work)

    def wait(self, timeout: float | None = None) -> SceneTimeline:
        """Block until the edit under way is done (for scripts and tests)."""
        self._job.wait(timeout)
        return self

    @property
    def edit(self) -> SceneEdit | None:
        """The latest finished edit (images, masks and scores)."""
        return self._edit


class SceneProbeView(ipywidgets.VBox):
    """Probe a diffusion model's scene geometry over its denoising steps, and edit it.

    ``SceneProbeView(pipe, prompts, depth=fn, saliency=fn)`` generates an image per prompt, labels the images
    with the two estimator functions (images [n, H, W, 3] in [0, 1] -> [n, H, W]; the scenes world's are
    ``interpwidgets.worlds.scenes.estimators(estimator)``), fits every layer x step's probes on a fit /
    choose / test split of the images and shows them; or give a finished ``study_=``. ``view.timeline`` is
    the timeline and edit panel, ``view.heatmap`` the plotly figure; ``layer``, ``step`` and ``image`` are
    the timeline's.

    Examples
    --------
    >>> import numpy as np, interpwidgets as iw
    >>> from interpwidgets.worlds.scenes import models as m    # the world's networks, random weights
    >>> tok = m.build_tokenizer()
    >>> pipe = m.assemble(m.build_vae(), m.build_text_encoder(tok), tok, m.build_unet())
    >>> bright = lambda im: im.mean(-1)
    >>> view = iw.SceneProbeView(pipe, ["a red sphere near on the left"] * 6, depth=bright,
    ...                          saliency=lambda im: bright(im) > 0.5, steps=2, epochs=1, progress=False)
    >>> view.timeline.steps, len(view.timeline.layers)
    (2, 7)
    """

    def __init__(self, pipe, prompts=None, *, depth=None, saliency=None, study_: Study | None = None,
                 steps: int = 15, guidance: float = 7.5, seed: int = 0, epochs: int = 30, iters: int = 128,
                 edit_layers: list[str] | None = None, progress: bool = True, background: bool = True):
        from .study import _require

        _require(depth, saliency)  # the edits label what they generate: say so now, not in a background job
        if study_ is None:
            if prompts is None:
                raise ValueError("give the prompts to generate from (or a finished study_=)")
            study_ = study(pipe, prompts, depth=depth, saliency=saliency, steps=steps, guidance=guidance, seed=seed,
                           epochs=epochs, progress=progress)
        self.study = study_
        self.timeline = SceneTimeline(pipe, study_, depth=depth, saliency=saliency, edit_layers=edit_layers,
                                      iters=iters, background=background)
        self.heatmap = self._figure()
        super().__init__([self.heatmap, self.timeline])
        self.timeline.observe(self._mark, names=["layer", "step"])

    def _figure(self):
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        t = self.timeline
        names = [n.removesuffix(".attn.out") for n in t.layers]
        fig = go.FigureWidget(make_subplots(1, 2, horizontal_spacing=0.26, subplot_titles=(
            "salient object: Dice (higher is better)", "depth: RMSE (lower is better)")))
        for col, (metric, scale, bar_x) in enumerate((("dice", "Viridis", 0.38), ("rmse", "Viridis_r", 1.01)), 1):
            fig.add_heatmap(z=t.quality[metric], x=list(range(t.steps)), y=names, colorscale=scale, row=1, col=col,
                            colorbar=dict(title=dict(text="Dice" if metric == "dice" else "RMSE (disparity)"),
                                          x=bar_x, len=0.9),
                            hovertemplate="%{y}, step %{x}: %{z:.3f}<extra></extra>")
            fig.update_xaxes(title_text="denoising step", dtick=max(1, t.steps // 8), row=1, col=col)
            fig.update_yaxes(title_text="self-attention layer" if col == 1 else None, autorange="reversed", row=1,
                             col=col)
        fig.add_scatter(x=[t.step], y=[names[t.layers.index(t.layer)]], mode="markers", row=1, col=1,
                        marker=dict(symbol="square-open", size=16, color="#e6550d", line=dict(width=3)),
                        hoverinfo="skip", showlegend=False)
        fig.add_scatter(x=[t.step], y=[names[t.layers.index(t.layer)]], mode="markers", row=1, col=2,
                        marker=dict(symbol="square-open", size=16, color="#e6550d", line=dict(width=3)),
                        hoverinfo="skip", showlegend=False)
        fig.update_layout(height=330, margin=dict(l=70, r=40, t=60, b=50),
                          title=dict(text="Probe quality per layer and denoising step, on the choose split's images: "
                                          "click a cell to show it", x=0.5, font=dict(size=13)))
        for trace in fig.data[:2]:
            trace.on_click(self._clicked)
        return fig

    def _clicked(self, trace, points, state) -> None:
        if points.point_inds:
            row, col = points.point_inds[0]  # heatmap points are (row, column) = (layer, step)
            self.timeline.layer, self.timeline.step = self.timeline.layers[row], int(col)

    def _mark(self, change=None) -> None:
        t = self.timeline
        y = t.layer.removesuffix(".attn.out")
        with self.heatmap.batch_update():
            for trace in self.heatmap.data[2:]:
                trace.x, trace.y = [t.step], [y]

    def save_html(self, path, title: str | None = None):
        """The timeline and edit panel as one offline HTML page (the heatmap: ``view.heatmap.write_html``)."""
        return self.timeline.save_html(path, title)

    def save_png(self, path, width: int = 1000, height: int = 700):
        """The timeline and edit panel as a PNG, rendered in headless Chromium."""
        return self.timeline.save_png(path, width, height)

    # the timeline's choice, for ipywidgets.link and scripts
    layer = property(lambda self: self.timeline.layer, lambda self, v: setattr(self.timeline, "layer", v))
    step = property(lambda self: self.timeline.step, lambda self, v: setattr(self.timeline, "step", v))
    image = property(lambda self: self.timeline.image, lambda self, v: setattr(self.timeline, "image", v))
