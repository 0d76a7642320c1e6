"""SaliencyView: each method's map beside the image on one colour scale, a slider that reveals the image's
most salient part (pixels, or XRAI's regions in their order) with the model's top classes at that level,
the PIC curves (plotly), a gallery of every image with the median table, the sanity check's maps as layers
are randomized, and a text mode that colours tokens by their attribution.

The view is a layout of :class:`SaliencyPanel` (our own front end) and a plotly ``FigureWidget`` of the PIC
curves that follows the panel's image. The science is in the method modules
(:func:`~interpwidgets.saliency.maps.saliency_maps`, :func:`~interpwidgets.saliency.pic.pic`,
:func:`~interpwidgets.saliency.sanity.cascading_randomization`,
:func:`~interpwidgets.saliency.tokens.token_attributions`); the panel runs them in background jobs.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import ipywidgets
import numpy as np
import traitlets

from ..transport import encode
from ..widgets import Widget, serves
from ..widgets.jobs import Cancelled, Job
from .classifier import Classifier
from .maps import Maps, check_methods, revealed, run_order, saliency_maps
from .pic import GRID, PicResult, pic, start_masks
from .sanity import cascading_randomization
from .tokens import token_attributions

__all__ = ["SaliencyPanel", "SaliencyView"]

SCALE_PERCENTILE = 99.0  # each map is shown over [0, its 99th percentile], as PAIR's visualisation clips it
CURVE_POINTS = GRID[::10]  # the PIC curves as the figure draws them


def _scaled(maps: np.ndarray) -> np.ndarray:
    """Maps ``[..., S, S]`` over [0, 1]: each one's values over its own 99th percentile, clipped."""
    m = np.asarray(maps, np.float64)
    m = m - m.min(axis=(-2, -1), keepdims=True) * (m.min() < 0)  # signed maps (XRAI's gains) start at 0
    top = np.percentile(m, SCALE_PERCENTILE, axis=(-2, -1), keepdims=True)
    return np.clip(m / np.maximum(top, 1e-30), 0, 1).astype(np.float16)


class SaliencyPanel(Widget):
    """The images, maps, reveal slider, gallery, sanity panel and text mode of :class:`SaliencyView` (which
    lays it out with the PIC figure). ``index``, ``method`` and ``reveal`` (the share of the image shown,
    0..1) are linkable."""

    _bundle = "saliency_view"

    mode = traitlets.Unicode("image").tag(sync=True)  # "image" or "text"
    layout_mode = traitlets.Unicode("single").tag(sync=True)  # "single" image or "gallery"
    n_images = traitlets.Int(0).tag(sync=True)
    size = traitlets.Int(0).tag(sync=True)
    methods = traitlets.List([]).tag(sync=True)
    method = traitlets.Unicode("").tag(sync=True)
    index = traitlets.Int(0).tag(sync=True)
    reveal = traitlets.Float(0.1).tag(sync=True)
    explained = traitlets.List([]).tag(sync=True)  # per image: {"name", "score"} of the class explained
    ready = traitlets.Bool(False).tag(sync=True)  # the maps are computed
    computing = traitlets.Bool(False).tag(sync=True)
    progress = traitlets.Float(0.0).tag(sync=True)
    stage = traitlets.Unicode("").tag(sync=True)  # what the background job is doing
    gaps = traitlets.Dict({}).tag(sync=True)  # {method: [per image]}: IG's completeness gap
    pic = traitlets.Dict({}).tag(sync=True)  # {"table": rows per method, "skipped": {kind: n}, "images": n}
    pic_state = traitlets.Unicode("").tag(sync=True)  # "computing", "done", "failed" or "stopped"
    sanity = traitlets.Dict({}).tag(sync=True)  # the latest randomization's summary, and its images
    sanity_running = traitlets.Bool(False).tag(sync=True)
    sanity_progress = traitlets.Float(0.0).tag(sync=True)
    texts = traitlets.List([]).tag(sync=True)  # text mode: {"tokens", "values", "target", "score", "gap"}

    def __init__(self, clf: Classifier | None, pictures: np.ndarray | None = None, targets: np.ndarray | None = None,
                 methods: Sequence[str] = ("IG", "XRAI"), *, steps: int = 32, baselines=("black", "white"),
                 pic_seed: int = 0, min_score: float = 0.8, background: bool = True, **kwargs):
        if clf is not None:
            methods = check_methods(methods)
        self._clf, self._steps, self._baselines, self._min_score = clf, steps, baselines, min_score
        self._maps: Maps | None = None
        self._sanity = None
        self._pic: PicResult | None = None
        self._lock = threading.Lock()
        n = 0 if pictures is None else len(pictures)
        super().__init__(n_images=n, size=0 if clf is None else clf.size, methods=list(methods),
                         method=methods[0] if methods else "", **kwargs)
        self._pictures, self._targets = pictures, targets
        self._starts = None if clf is None else start_masks(n, clf.size, seed=pic_seed)
        self._pic_seed = pic_seed
        self._job = Job(self, "saliency", background=background, progress="progress")
        self._sanity_job = Job(self, "sanity check", background=background, progress="sanity_progress")

    # ------------------------------------------------------------------ checks
    @traitlets.validate("index")
    def _valid_index(self, proposal):
        n = max(self.n_images, len(self.texts))
        if n and not 0 <= proposal["value"] < n:
            raise traitlets.TraitError(f"index must be between 0 and {n - 1}, got {proposal['value']}")
        return proposal["value"]

    @traitlets.validate("method")
    def _valid_method(self, proposal):
        if self.methods and proposal["value"] not in self.methods:
            raise traitlets.TraitError(f"method must be one of {self.methods}, got {proposal['value']!r}")
        return proposal["value"]

    @traitlets.validate("reveal")
    def _valid_reveal(self, proposal):
        if not 0 <= proposal["value"] <= 1:
            raise traitlets.TraitError(f"reveal is the share of the image shown: between 0 and 1, got "
                                       f"{proposal['value']}")
        return proposal["value"]

    @traitlets.validate("layout_mode")
    def _valid_layout(self, proposal):
        if proposal["value"] not in ("single", "gallery"):
            raise traitlets.TraitError(f"layout_mode must be 'single' or 'gallery', got {proposal['value']!r}")
        return proposal["value"]

    # ------------------------------------------------------------------ the background work
    def compute(self) -> None:
        """Every method's maps, then the PIC curves of all of them, in the background."""
        clf, pictures, targets, methods = self._clf, self._pictures, self._targets, list(self.methods)
        order = run_order(methods)  # progress grows in the order the methods run

        def work(run):
            def step(name, fraction, share=0.7):
                run.check()
                self.stage = name
                run.progress(share * (order.index(name) + fraction) / len(order))

            self.computing, self.pic_state = True, "computing"
            try:
                maps = saliency_maps(clf, pictures, targets, methods, steps=self._steps, baselines=self._baselines,
                                     progress=False, on_progress=step)
                with self._lock:
                    self._maps = maps
                self.gaps = {k: np.round(a.gap, 4).tolist() for k, a in maps.attributions.items()
                             if a.gap is not None}
                self.ready = True
                self.stage = "PIC"
                result = pic(clf, pictures, maps.maps, targets, masks=self._starts, min_score=self._min_score,
                             progress=False,
                             on_progress=lambda f: (run.check(), run.progress(0.7 + 0.3 * f)))
                with self._lock:
                    self._pic = result
                self.pic = {"table": result.table(), "skipped": {k: len(v) for k, v in result.skipped.items()},
                            "images": len(pictures), "min_score": self._min_score}
                self.pic_state = "done"
            except Exception as err:  # (the job shows the error; the figure says the curves are not coming)
                self.pic_state = "stopped" if isinstance(err, Cancelled) else "failed"
                raise
            finally:
                self.computing, self.stage = False, ""

        self._job.start(work)

    def compute_texts(self, model, tokenizer, texts: Sequence[str], target=None, **options) -> None:
        """Text mode: integrated gradients per token of each text, in the background."""

        def work(run):
            self.computing, self.stage = True, "integrated gradients"
            try:
                out = token_attributions(model, tokenizer, list(texts), target=target, progress=False, **options)
                run.check()
                self.texts = [{"tokens": t.tokens, "values": np.round(t.values, 6).tolist(), "target": t.target_name,
                               "score": round(float(t.score), 4), "gap": round(float(t.gap), 4), "text": t.text}
                              for t in out]
                self.ready = True
            finally:
                self.computing, self.stage = False, ""

        self._job.start(work)

    def run_sanity(self, method: str | None = None, images: int = 2) -> None:
        """The cascading randomization test of ``method`` (default: the one shown) on the first ``images``
        images, in the background; the panel shows the maps as layers are randomized."""
        if self.mode != "image":
            raise ValueError("the sanity check randomizes an image classifier: this view is in text mode")
        method = method or self.method
        runs = [m for m in self.methods if m != "random"]  # random maps do not depend on the model at all
        if method not in runs:
            raise ValueError(f"method={method!r}: the sanity check runs one of {runs}")
        k = max(1, min(images, self.n_images))
        clf, pictures, targets = self._clf, self._pictures[:k], self._targets[:k]

        def fn(c, p, t):
            return saliency_maps(c, p, t, [method], steps=self._steps, baselines=self._baselines,
                                 progress=False).maps[method]

        def work(run):
            self.sanity_running = True
            try:
                r = cascading_randomization(clf, pictures, fn, targets, name=method, progress=False,
                                            on_progress=lambda f: (run.check(), run.progress(f)))
                with self._lock:
                    self._sanity = r
                self.sanity = {**r.summary(), "images": k}
            finally:
                self.sanity_running = False

        self._sanity_job.start(work)

    def wait(self, timeout: float | None = None) -> SaliencyPanel:
        """Block until the background work is done (for scripts and tests)."""
        self._job.wait(timeout)
        self._sanity_job.wait(timeout)
        return self

    @serves("cancel")
    def cancel(self) -> dict:
        """Stop the background work under way (the view's stop button)."""
        self._job.cancel()
        self._sanity_job.cancel()
        return {}

    @serves("sanity_start")
    def _sanity_start(self, method: str) -> dict:
        self.run_sanity(method)
        return {}

    # ------------------------------------------------------------------ what the view asks for
    def _ready(self) -> Maps:
        if self._maps is None:
            raise ValueError("the maps are still being computed: the view shows them when they are ready")
        return self._maps

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.n_images:
            raise ValueError(f"image {index}: the view has images 0 to {self.n_images - 1}")

    @serves("image")
    def _image(self, index: int) -> dict:
        """One picture and every method's map, each over its own 99th percentile (one colour scale)."""
        maps = self._ready()
        self._check_index(index)
        return {"index": index, "picture": encode(maps.pictures[index]),
                "maps": {m: encode(_scaled(v[index])) for m, v in maps.maps.items()}}

    @serves("revealed")
    def _revealed(self, index: int, method: str, level: int) -> dict:
        """The picture with ``level`` per mille of it revealed by ``method`` (the rest blurred as the PIC
        metric blurs it), and the model's top classes on it."""
        maps = self._ready()
        self._check_index(index)
        shown = maps.reveal(method, index, level / 1000)
        image, top = revealed(self._clf, maps.pictures[index], shown, self._starts[index])
        return {"index": index, "method": method, "level": level, "picture": encode(image),
                "shown": encode(shown.astype(np.uint8)), "fraction": round(float(shown.mean()), 4),
                "top": [[name, round(p, 4)] for name, p in top]}

    @serves("gallery")
    def _gallery(self, method: str) -> dict:
        """Every picture and ``method``'s map of each."""
        maps = self._ready()
        if method not in maps.maps:
            raise ValueError(f"no map for {method!r}: the methods are {maps.methods}")
        return {"method": method, "pictures": encode(maps.pictures), "maps": encode(_scaled(maps.maps[method]))}

    @serves("sanity_maps")
    def _sanity_maps(self) -> dict:
        """The latest randomization's maps ``[stages, images, S, S]`` (each on its own scale)."""
        r = self._sanity
        if r is None:
            raise ValueError("no sanity check has run: press 'run the sanity check'")
        return {"method": r.method, "maps": encode(_scaled(r.maps))}

    def _snapshot_requests(self):
        """An exported page carries what is on screen: the image, its reveal level, or the gallery, and the
        sanity check's maps."""
        if self.mode == "image" and self._maps is not None:
            if self.layout_mode == "gallery":
                yield "gallery", {"method": self.method}
            else:
                yield "image", {"index": self.index}
                yield "revealed", {"index": self.index, "method": self.method, "level": round(self.reveal * 1000)}
        if self._sanity is not None:
            yield "sanity_maps", {}

    # ------------------------------------------------------------------ for Python
    def curves(self, index: int | None = None) -> dict:
        """The PIC curves the figure draws: per method, the median SIC and AIC curves over the images and
        picture ``index``'s own (None where it was skipped), on ``CURVE_POINTS``."""
        with self._lock:
            result = self._pic
        if result is None:
            return {}
        out = {}
        for m in result.methods:
            out[m] = {}
            for kind in ("sic", "aic"):
                try:
                    median = result.median_curve(m, kind)[::10]
                except ValueError:  # every image was skipped
                    median = None
                own = None if index is None else result.curves[kind][m][index]
                out[m][kind] = {"median": median, "auc": result.auc(m, kind) if median is not None else None,
                                "image": None if own is None else own.curve[::10]}
        return out

    @property
    def result(self) -> tuple[Maps | None, PicResult | None]:
        """The maps and the PIC result, once computed."""
        return self._maps, self._pic


class SaliencyView(ipywidgets.VBox):
    """Saliency maps of an image classifier, side by side, revealed level by level, measured by PIC.

    ``SaliencyView(model, images, target=None, methods=("IG", "XRAI", "gradient"))``: ``model`` is a
    :class:`~interpwidgets.saliency.Classifier` or an ``nn.Module`` (wrapped with ``preprocess=`` and
    ``classes=``; torchvision's ImageNet recipe by default); ``images`` any images (resized to the model's
    size, said); ``target`` the class explained (None: each image's predicted class; an int; one per image).
    Methods are among ``METHODS`` (IG with black and white baselines, XRAI on that IG, gradient,
    SmoothGrad, Blur IG, random maps as the control). Each map is drawn on one colour scale over its own
    99th percentile (the methods' units differ). PIC leaves out images the model scores below
    ``min_score`` (the paper's 0.8) and says how many.

    ``index``, ``method`` and ``reveal`` are traits (linkable with ``ipywidgets.link``); ``view.panel`` is the
    panel, ``view.figure`` the plotly PIC figure. :meth:`text` builds the text mode.

    Examples
    --------
    >>> import numpy as np, interpwidgets as iw
    >>> from interpwidgets.worlds import shapes
    >>> d = shapes.dataset(4, "test")
    >>> view = iw.SaliencyView(shapes.load(), d["images"], d["labels"], methods=("IG", "random"), steps=8,
    ...                        background=False)
    >>> view.panel.ready, sorted(view.panel.pic["table"][0])[:3]
    (True, ['aic', 'aic_hi', 'aic_images'])
    """

    index = traitlets.Int(0)
    method = traitlets.Unicode("")
    reveal = traitlets.Float(0.1)

    @traitlets.validate("index", "method", "reveal")
    def _through_the_panel(self, proposal):
        """The panel checks the value first: a bad one leaves the view and the panel as they were."""
        panel = getattr(self, "panel", None)
        if panel is not None:
            setattr(panel, proposal["trait"].name, proposal["value"])
        return proposal["value"]

    def __init__(self, model, images=None, target=None, methods: Sequence[str] = ("IG", "XRAI", "gradient"), *,
                 preprocess=None, classes=None, steps: int = 32, baselines=("black", "white"), pic_seed: int = 0,
                 min_score: float = 0.8, background: bool = True, panel: SaliencyPanel | None = None):
        if panel is None:
            clf = model if isinstance(model, Classifier) else Classifier(model, preprocess, classes=classes)
            if images is None:
                raise ValueError("give the images to explain (any size: they are resized to the model's)")
            methods = check_methods(methods)
            pictures = clf.pictures(images)
            targets = None if target is None else clf.targets(pictures, target)  # a bad one fails before any work
            probs = clf.predict(pictures)
            targets = probs.argmax(-1) if targets is None else targets  # (what clf.targets(None) predicts)
            panel = SaliencyPanel(clf, pictures, targets, methods, steps=steps, baselines=baselines,
                                  pic_seed=pic_seed, min_score=min_score, background=background,
                                  explained=[{"name": clf.classes[t], "score": round(float(probs[i, t]), 4)}
                                           for i, t in enumerate(targets)])
            panel.compute()
        self.panel = panel
        children = [panel]
        self.figure = None
        self._drawing = threading.Lock()
        if panel.mode == "image":
            self.figure = self._figure()
            children.append(self.figure)
            panel.observe(self._redraw, names=["pic", "index", "pic_state"])
            self._redraw()
        super().__init__(children, index=panel.index, method=panel.method, reveal=panel.reveal)
        self._links = [traitlets.link((self, name), (panel, name)) for name in ("index", "method", "reveal")]

    @classmethod
    def text(cls, model, tokenizer, texts: Sequence[str], target=None, *, steps: int = 32, baseline="pad",
             background: bool = True) -> SaliencyView:
        """Text mode: each token of each text coloured by its integrated gradient (over the input embeddings,
        :func:`~interpwidgets.saliency.token_attributions`) for a classifier's class or a causal LM's next
        token (``target``: None the predicted one, a class or token id, or a token's text)."""
        if not texts or any(not isinstance(t, str) for t in texts):
            raise ValueError("give a list of texts")
        panel = SaliencyPanel(None, mode="text", methods=["IG"], background=background)
        panel.compute_texts(model, tokenizer, texts, target, steps=steps, baseline=baseline)
        return cls(None, panel=panel)

    def wait(self, timeout: float | None = None) -> SaliencyView:
        self.panel.wait(timeout)
        return self

    def top_classes(self) -> list[list]:
        """The model's top classes on the picture shown, revealed at the current level by the current method."""
        return self.panel._revealed(self.index, self.method, round(self.reveal * 1000))["top"]

    def save_html(self, path, title: str | None = None):
        """The panel as one offline HTML page (the PIC figure: ``view.figure.write_html``)."""
        return self.panel.save_html(path, title)

    def save_png(self, path, width: int = 1000, height: int = 760):
        """The panel as a PNG, rendered in headless Chromium."""
        return self.panel.save_png(path, width, height)

    # ------------------------------------------------------------------ the PIC figure
    def _figure(self):
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        fig = go.FigureWidget(make_subplots(1, 2, horizontal_spacing=0.1, subplot_titles=(
            "SIC (softmax information curve)", "AIC (accuracy information curve)")))
        for col, what in ((1, "normalised softmax of the class"), (2, "share of images classified right")):
            fig.update_xaxes(title_text="information shown (normalised WebP size)", range=[0, 1], row=1, col=col)
            fig.update_yaxes(title_text=what, range=[0, 1.02], row=1, col=col)
        fig.update_layout(height=440, width=900, margin=dict(l=60, r=20, t=70, b=40),
                          legend=dict(font=dict(size=11), orientation="h", yanchor="top", y=-0.2, x=0),
                          title=dict(text="PIC: computing…", x=0.5, font=dict(size=13)))
        return fig

    def _redraw(self, change=None) -> None:
        with self._drawing:  # the PIC job's thread and the kernel's may both redraw
            self._draw()

    def _draw(self) -> None:
        curves = self.panel.curves(self.panel.index)
        fig = self.figure
        palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#7f7f7f"]
        with fig.batch_update():
            fig.data = []
            for j, (m, kinds) in enumerate(curves.items()):
                colour = palette[j % len(palette)]
                for col, kind in ((1, "sic"), (2, "aic")):
                    c = kinds[kind]
                    if c["median"] is not None:
                        aucs = ", ".join(f"{k.upper()} AUC {kinds[k]['auc']:.3f}" for k in ("sic", "aic")
                                         if kinds[k]["auc"] is not None)
                        fig.add_scatter(x=CURVE_POINTS, y=c["median"], mode="lines", row=1, col=col,
                                        line=dict(color=colour, width=2.5), legendgroup=m, showlegend=col == 1,
                                        name=f"{m} (median; {aucs})")
                    if c["image"] is not None:
                        fig.add_scatter(x=CURVE_POINTS, y=c["image"], mode="lines", row=1, col=col,
                                        line=dict(color=colour, width=1.2, dash="dot"), legendgroup=m,
                                        showlegend=col == 1, name=f"{m}: image {self.panel.index}")
            fig.layout.title.text = self._title(bool(curves))

    def _title(self, drawn: bool) -> str:
        state = self.panel.pic_state
        if drawn:
            return (f"PIC on {self.panel.pic.get('images', 0)} images: median curves (solid), image "
                    f"{self.panel.index} (dotted)")
        if state == "failed":
            return "PIC: not computed (the job failed: the panel shows the error)"
        return "PIC: not computed (stopped)" if state == "stopped" else "PIC: computing…"
