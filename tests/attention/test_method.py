"""AttentionViz's science on the real MiniLM: normalization, statistics, and what the projection shows."""

import models
import numpy as np
import pytest
import torch

from interpwidgets.attention.method import collect_qk, normalize_qk, unit_patterns
from interpwidgets.attention.projection import head_points, project
from interpwidgets.datasets import stdlib_sentences


@pytest.fixture(scope="module")
def minilm():
    model = models.minilm()
    return model, collect_qk(model, stdlib_sentences(120), models.minilm_tokenizer(), progress=False)


def _units(data):
    return [torch.from_numpy(np.flatnonzero(data.unit == u)) for u in range(len(data.units))]


@pytest.mark.parametrize("method", ["norms", "centroid"])
def test_normalization_leaves_every_pattern_unchanged(minilm, method):
    model, data = minilm
    d_head = data.q.shape[-1]
    for unit in (0, 7, 50):
        real = unit_patterns(model, data, unit)  # the model's own attention, from a fresh forward pass
        rows = torch.from_numpy(np.flatnonzero(data.unit == unit))
        for layer, head in [(0, 2), (3, 7), (5, 11)]:
            q, k = normalize_qk(data.q[layer, head], data.k[layer, head], method)  # over all tokens of all texts
            ours = torch.softmax(q[rows] @ k[rows].T / d_head ** 0.5, -1)
            torch.testing.assert_close(ours, real[layer, head], atol=3e-3, rtol=0)  # q, k are stored in fp16


def _mean_rank(data, q, k):
    """Over every query: how many keys of its text are nearer to it than the key it attends to most."""
    ranks = []
    for rows in _units(data):
        qu, ku = q[rows], k[rows]
        top = (qu @ ku.T).argmax(-1)
        dist = torch.cdist(qu, ku)
        ranks.append((dist < dist.gather(1, top[:, None])).sum(-1).float())
    return torch.cat(ranks).mean().item()


def test_after_normalization_the_attended_key_is_nearer(minilm):
    _, data = minilm
    before, norms, centroid = [], [], []
    for layer in range(data.n_layers):
        for head in range(data.n_heads):
            q, k = data.q[layer, head].float(), data.k[layer, head].float()
            before.append(_mean_rank(data, q, k))
            norms.append(_mean_rank(data, *normalize_qk(q, k, "norms")))
            centroid.append(_mean_rank(data, *normalize_qk(q, k, "centroid")))
    before, norms, centroid = map(np.array, (before, norms, centroid))
    assert norms.mean() < 0.3 * before.mean()  # measured: 0.4 vs 3.1 keys nearer than the attended one
    assert (norms < before).mean() > 0.9
    # AttentionViz's centroid move does the opposite on MiniLM (measured 14.5): sink keys such as [SEP]
    # sit far from the key centroid. This is why "norms" is our default (docs/architecture.md).
    assert centroid.mean() > before.mean()


def test_norms_keeps_the_keys_spread_where_few_keys_would_let_it_collapse():
    """A random small BERT on one short text: 13 keys in 16 dimensions. Equal norms are then reachable by
    a long, arbitrary move that shrinks the keys to a point next to the queries; "norms" falls back to
    the centroid move, and the attention is unchanged either way."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    tok = models.minilm_tokenizer()
    model = BertModel(BertConfig(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4,
                                 vocab_size=tok.vocab_size)).eval()
    data = collect_qk(model, ["The cat sat on the mat because it was tired."], tok, progress=False)
    assert data.q.shape[-2:] == (13, 16)
    spread = lambda x: (x - x.mean(0)).norm(dim=-1).mean().item()  # noqa: E731
    for layer in range(2):
        for head in range(4):
            q, k = data.q[layer, head].float(), data.k[layer, head].float()
            q2, k2 = normalize_qk(q, k, "norms")
            assert 0.8 < spread(k2) / spread(q2) < 1.25  # keys as spread out as the queries, not a point
            torch.testing.assert_close(torch.softmax(q2 @ k2.T, -1), torch.softmax(q @ k.T, -1), atol=1e-4, rtol=0)


def test_offset_statistic_finds_the_previous_token_head(minilm):
    model, data = minilm
    offset, entropy = data.stats["offset"], data.stats["entropy"]
    # heads whose mean attended offset is about -1; of those, the focused one (a mixed head can average -1 too)
    candidates = np.abs(offset + 1) < 0.15
    assert 1 <= candidates.sum() <= 8
    layer, head = np.unravel_index(np.where(candidates, entropy, np.inf).argmin(), offset.shape)
    # the model's attention confirms it: almost all of each token's attention goes to the token before
    on_previous = []
    for unit in range(10):
        p = unit_patterns(model, data, unit)[layer, head]
        n = p.shape[-1]
        on_previous.append(p[torch.arange(2, n - 1), torch.arange(1, n - 2)])
    assert torch.cat(on_previous).mean() > 0.9
    # and its single-head view shows the offset: a query's nearest key (2-D PCA) is the previous token's
    n = len(data.tokens)

    def previous_is_nearest(lay, hd):
        c = torch.from_numpy(project(head_points(data, lay, hd), "pca"))
        hits = total = 0
        for rows in _units(data):
            near = torch.cdist(c[rows], c[rows + n]).argmin(-1)
            hits += (near[2:-1] == torch.arange(1, len(rows) - 2)).sum().item()
            total += len(rows) - 3
        return hits / total

    assert previous_is_nearest(layer, head) > 0.4  # measured 0.57
    assert previous_is_nearest(layer, (head + 1) % data.n_heads) < 0.15  # a neighbouring head: 0.04


def test_entropy_and_sink_statistics_are_what_they_say(minilm):
    """Recomputed by hand from every text's own attention (a fresh forward pass per text): the mean over all
    queries of all texts of a query's attention entropy, and of the attention it pays to the first and
    last tokens."""
    model = minilm[0]
    data = collect_qk(model, stdlib_sentences(120)[:30], models.minilm_tokenizer(), progress=False)
    entropy = sink = 0
    n = 0
    for unit in range(len(data.units)):
        p = unit_patterns(model, data, unit)  # [L, H, n, n]
        entropy = entropy + -(p * p.clamp_min(1e-12).log()).sum(-1).sum(-1)
        sink = sink + (p[..., 0] + p[..., -1]).sum(-1)
        n += p.shape[-1]
    np.testing.assert_allclose(data.stats["entropy"], (entropy / n).numpy(), atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(data.stats["sink"], (sink / n).numpy(), atol=1e-4, rtol=1e-4)
    assert data.stats["sink"].max() > 0.7 and data.stats["sink"].min() < 0.15  # heads differ (as measured here)


def test_grouped_query_attention_pairs_each_query_head_with_its_kv_head():
    import interpwidgets as iw

    model = models.llama()  # 4 query heads, 2 key-value heads
    ids = models.tokens(model, batch=1, seq=9)[0]
    data = collect_qk(model, [ids], progress=False)
    with iw.capture(model, ["layers.1.attn.k"]) as cache:
        model(ids[None])
    kv = cache["layers.1.attn.k"][0]  # [seq, 2, d]
    for h in range(4):
        torch.testing.assert_close(data.k[1, h].float(), kv[:, h // 2].half().float())


def test_long_texts_are_windowed_and_positions_kept():
    model = models.gpt2()  # context 64
    data = collect_qk(model, [torch.arange(3, 100), torch.arange(3, 10)], progress=False)
    assert [(u["source"], u["start"], u["length"]) for u in data.units] == [(0, 0, 64), (0, 64, 33), (1, 0, 7)]
    assert data.position[64] == 64 and data.unit[64] == 1 and data.q.shape[2] == 104
    short = collect_qk(model, [torch.arange(3, 100)], window=10, progress=False)
    assert len(short.units) == 10


def test_degenerate_inputs_give_numbers_not_nan():
    model = models.gpt2()
    data = collect_qk(model, [torch.tensor([5])], progress=False)  # a single token
    assert data.q.shape[2] == 1 and np.isnan(data.stats["offset"]).all()  # no offset to measure: NaN, said so
    assert np.isfinite(project(head_points(data, 0, 0), "pca")).all()
    q = torch.zeros(6, 4)  # a head whose queries are all zero
    k = torch.randn(6, 4)
    q2, k2 = normalize_qk(q, k)
    assert torch.isfinite(q2).all() and torch.isfinite(k2).all()
    assert np.all(project(torch.ones(10, 4), "umap") == 0)  # identical points: zeros, not NaN


def test_bad_inputs_are_named():
    from transformers import BloomConfig, BloomForCausalLM

    bloom = BloomForCausalLM(BloomConfig(n_layer=1, hidden_size=32, n_head=4, vocab_size=50))  # own attention
    with pytest.raises(ValueError, match="cannot read separate queries and keys.*supports GPT-2, Llama"):
        collect_qk(bloom, [torch.arange(5)])
    with pytest.raises(TypeError, match="vision transformer: it reads images, not text"):
        collect_qk(models.vit(), ["a sentence"])
    with pytest.raises(TypeError, match="reads text; got images"):
        collect_qk(models.gpt2(), [np.zeros((32, 32, 3), np.uint8)])
    with pytest.raises(ValueError, match="one of \\['decoder', 'encoder'\\].*AttentionPatterns"):
        collect_qk(models.t5(), [torch.arange(3, 9)], attention="cross")
    with pytest.raises(ValueError, match="at least one input"):
        collect_qk(models.gpt2(), [])
    with pytest.raises(ValueError, match="normalize must be one of"):
        normalize_qk(torch.randn(3, 2), torch.randn(3, 2), "unit")


def test_vit_reads_images_as_patches():
    from sklearn.datasets import load_sample_images

    tiles = [im[y:y + 200, x:x + 200] for im in load_sample_images().images for y in (0, 200) for x in (0, 200)]
    data = collect_qk(models.vit(), tiles, progress=False)  # 32x32 images, 8x8 patches
    assert data.grid == (4, 4) and data.images.shape == (8, 32, 32, 3) and data.images.dtype == np.uint8
    assert data.tokens[:3] == ["[CLS]", "patch 0,0", "patch 0,1"] and data.q.shape[2] == 8 * 17


def test_batches_keep_captured_patterns_under_the_budget():
    from interpwidgets.attention.method import PATTERN_BUDGET, _batches

    lengths = [5] * 20 + [512] * 6
    batches = _batches(list(range(26)), lengths, 8, 72)
    assert [len(b) for b in batches] == [8, 8, 4, 3, 3]  # the long windows go three at a time
    for b in batches:
        assert len(b) * max(lengths[i] for i in b) ** 2 * 72 * 4 <= PATTERN_BUDGET
    assert sorted(i for b in batches for i in b) == list(range(26))


def test_sorting_by_previous_token_puts_the_previous_token_head_first(minilm):
    """The tour's previous-token head (layer 0, head 2 on MiniLM) comes first when heads are sorted by
    |offset + 1|; sorted by offset it is far down the list."""
    _, data = minilm
    order = np.argsort(data.stats["previous_token"], axis=None)
    assert np.unravel_index(order[0], data.stats["offset"].shape) == (0, 2)
    assert np.argsort(data.stats["offset"], axis=None).tolist().index(2) > 3


def test_image_statistics_read_spatial_and_colour_heads():
    """On a 6 x 6 grid whose left half is red and right half blue: a head that attends to the patch to its
    right reads patch_distance 1; a head that attends to far patches of its own colour reads a colour
    affinity of 0, one that attends to far patches of the other colour more than 1; [CLS] alone is a sink."""
    from interpwidgets.attention.method import _image_stats

    rows = cols = 6
    image = np.zeros((rows * 4, cols * 4, 3), np.uint8)
    image[:, : cols * 2, 0] = 255  # red left half
    image[:, cols * 2:, 2] = 255  # blue right half
    n = 1 + rows * cols
    p = torch.zeros(1, 4, n, n)
    p[0, :, 0, 0] = 1
    for i in range(rows * cols):
        r, c = divmod(i, cols)
        p[0, 0, 1 + i, 1 + r * cols + min(c + 1, cols - 1)] = 1  # the right-hand neighbour (or itself)
        far_same = (r + 3) % rows * cols + c  # 3 rows away, same column: same colour
        p[0, 1, 1 + i, 1 + far_same] = 1
        far_other = (r + 3) % rows * cols + (c + 3) % cols  # 3 rows and 3 columns away: the other half
        p[0, 2, 1 + i, 1 + far_other] = 1
        p[0, 3, 1 + i, 0] = 1  # [CLS]
    s = _image_stats(p, (rows, cols), image, (4, 4))
    distance = s["patch_distance"] / s["patch_mass"].clamp_min(1e-12)
    affinity = s["colour_seen"] / s["colour_base"].clamp_min(1e-12)
    assert distance[0, 0] == pytest.approx(5 / 6)  # 1 patch to the right, 0 for the last column
    assert s["colour_base"][0, 0] == 0  # the neighbour head pays nothing 3+ patches away: no colour value
    assert affinity[0, 1] == pytest.approx(0) and affinity[0, 2] > 1.3  # 1: no preference (measured 1.42)
    assert s["cls"][0, 3] == pytest.approx(n) and s["patch_mass"][0, 3] == 0


def test_vit_statistics_are_the_image_ones():
    from sklearn.datasets import load_sample_images

    from interpwidgets.attention.method import IMAGE_STATISTICS

    tiles = [im[y:y + 200, x:x + 200] for im in load_sample_images().images for y in (0, 200) for x in (0, 200)]
    data = collect_qk(models.vit(), tiles, progress=False)
    assert set(data.stats) == set(IMAGE_STATISTICS)
    for name, value in data.stats.items():
        assert value.shape == (data.n_layers, data.n_heads) and np.isfinite(value).all(), name
    assert (data.stats["sink"] <= 1).all() and (data.stats["patch_distance"] > 0).all()
