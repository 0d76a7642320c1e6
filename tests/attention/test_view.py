"""AttentionView without a browser: what each request sends, background projections, the selection, bad data."""

import models
import numpy as np
import pytest
import torch
import traitlets

import interpwidgets as iw
from interpwidgets.attention.projection import ProjectionCache, head_points, project
from interpwidgets.transport import decode

TEXTS = ["The cat sat on the mat.", "Attention is all you need.", "A dog."]


@pytest.fixture
def view(tmp_path):
    return iw.AttentionView(models.minilm(), TEXTS, models.minilm_tokenizer(), labels=["animal", "paper", "animal"],
                            cache=ProjectionCache(tmp_path))


def _ask(view, method, **args):
    reply, buffers = view._respond(method, args)
    assert "error" not in reply, reply.get("error")
    from ipywidgets.widgets.widget import _put_buffers

    _put_buffers(reply, reply["buffer_paths"], buffers)
    return reply["result"]


def test_meta_thumbs_and_points_carry_the_data(view):
    n = view.n_tokens
    meta = _ask(view, "meta")
    tokens = [meta["vocab"][i] for i in decode(meta["token"])]
    assert tokens == view.data.tokens and tokens[:3] == ["[CLS]", "the", "cat"]
    np.testing.assert_array_equal(decode(meta["label"])[:n], [0] * 9 + [1] * 8 + [0] * 5)  # per text, per token
    thumbs = _ask(view, "thumbs")
    assert decode(thumbs["coords"]).shape == (6, 12, 2 * n, 2) and decode(thumbs["ready"]).all()  # n < 300: all
    points = _ask(view, "points", layer=3, head=7)
    expected = project(head_points(view.data, 3, 7, "norms"), "pca")
    np.testing.assert_allclose(decode(points["coords"]), expected, atol=1e-5)
    assert points["ready"] and points["dim"] == 2


def test_a_query_click_returns_the_keys_it_attends_to(view):
    row = 5  # "the" (second) in text 0
    got = _ask(view, "attends", row=row, layer=0, head=2)
    keys, weights = decode(got["keys"]), decode(got["weights"])
    p = view.patterns(0)[0, 2, row]
    assert keys[0] == view.n_tokens + p.argmax().item()  # key rows come after the n query rows
    np.testing.assert_allclose(weights, p.sort(descending=True).values[:len(weights)].numpy(), atol=1e-6)
    assert weights.min() >= 0.02


def test_selection_reads_tokens_sentences_and_positions(view):
    n = view.n_tokens
    view.selected_points = [2, n + 10]
    first, second = view.selected
    assert first == {"row": 2, "kind": "query", "token": "cat", "sentence": "[CLS] the [cat] sat on the mat . [SEP]",
                     "unit": 0, "position": 2}
    assert second["kind"] == "key" and second["unit"] == 1 and second["token"] == view.data.tokens[10]


def test_tsne_runs_in_the_background_and_is_cached(view, tmp_path):
    view.projection = "tsne"
    view.wait(120)
    assert view.ready == 72 and view.progress == 1.0 and view.error == ""
    coords, ready = view.coords(0, 2)
    assert ready and coords.shape == (2 * view.n_tokens, 2)
    files = list(tmp_path.glob("*.npy"))
    assert len(files) == 72
    # a new view of the same model and data finds every head on disk: nothing is computed again
    again = iw.AttentionView(models.minilm(), TEXTS, models.minilm_tokenizer(), projection="tsne",
                             cache=ProjectionCache(tmp_path))
    again.wait(5)
    np.testing.assert_array_equal(again.coords(0, 2)[0], coords)
    # 3-D asks for new projections
    view.dim = 3
    assert view.ready < 72
    view.wait(120)
    assert view.coords(1, 1)[0].shape[1] == 3


def test_bad_settings_keep_the_last_good_one(view):
    view.projection = "isomap"
    assert view.projection == "pca" and "projection must be one of" in view.error
    reply, _ = view._respond("points", {"layer": 9, "head": 0})
    assert "out of range: 6 layers x 12 heads" in reply["error"]
    assert view.coords(0, 0)[1]  # what was computed is still there
    view.sort_by = "beauty"
    assert view.sort_by == "layer" and "sort_by must be 'layer' or one of ['entropy', 'offset'" in view.error
    with pytest.raises(traitlets.TraitError, match="rows 0..43 \\(queries, then keys\\); got \\[44\\]"):
        view.selected_points = [3, 44]
    with pytest.raises(ValueError, match="one per input \\(3\\) or one per token"):
        iw.AttentionView(models.minilm(), TEXTS, models.minilm_tokenizer(), labels=["a", "b"])


def test_decoder_and_vit_views_build():
    gpt = iw.AttentionView(models.gpt2(), [torch.arange(3, 30), torch.tensor([7])], cache=ProjectionCache(False))
    assert gpt.n_layers == 2 and gpt.n_heads == 4 and gpt.grid == []
    assert gpt.stats["offset"][0][0] is not None and gpt.stats["sink"][1][3] is not None
    single = iw.AttentionView(models.gpt2(), [torch.tensor([7])], cache=ProjectionCache(False))
    assert single.stats["offset"][0] == [None] * 4  # no offset to measure: null for JSON, "n/a" in the view
    images = (np.random.default_rng(0).random((3, 40, 40, 3)) * 255).astype(np.uint8)
    vit = iw.AttentionView(models.vit(), list(images), cache=ProjectionCache(False))
    assert iw.AttentionView(models.vit(), images[0], cache=ProjectionCache(False)).n_units == 1  # one image
    assert vit.grid == [4, 4] and vit.n_units == 3
    assert decode(_ask(vit, "meta")["images"]).shape == (3, 32, 32, 3)


def test_a_batch_of_token_ids_is_read_as_texts():
    """A [batch, seq] integer tensor is token ids, taken as it is (it used to be refused as "images"); a
    tokenizer's output drops the padding by its mask; ids outside the embedding are named with its size."""
    tok = models.minilm_tokenizer()
    enc = tok(TEXTS[:2], padding="longest", return_tensors="pt")
    view = iw.AttentionView(models.minilm(), enc["input_ids"], tok, cache=ProjectionCache(False), progress=False)
    assert view.n_units == 2 and view.data.tokens == tok.convert_ids_to_tokens(enc["input_ids"].flatten())
    unpadded = iw.AttentionView(models.minilm(), enc, tok, cache=ProjectionCache(False), progress=False)
    real = [tok.convert_ids_to_tokens(tok(t)["input_ids"]) for t in TEXTS[:2]]
    assert unpadded.data.tokens == real[0] + real[1] and "[PAD]" not in unpadded.data.tokens
    with pytest.raises(ValueError, match="embedding of 30522 tokens"):
        iw.AttentionView(models.minilm(), torch.tensor([[101, 30522]]), tok, cache=ProjectionCache(False))


def test_a_failed_projection_is_named_and_cleared_by_the_next_that_works(view, monkeypatch):
    import interpwidgets.attention.widget as widget

    real = widget.project_heads

    def no_umap(data, method, *args, **kwargs):
        if method == "umap":
            raise ModuleNotFoundError("No module named 'umap'")
        return real(data, method, *args, **kwargs)

    monkeypatch.setattr(widget, "project_heads", no_umap)
    view.projection = "umap"
    view.wait(30)
    assert view.error == "UMAP projection: ModuleNotFoundError: No module named 'umap'"
    assert view.coords(0, 0)[0].shape[1] == 2  # PCA stays on screen meanwhile
    view.projection = "pca"
    assert view.error == "" and view.error_traceback == ""
