"""collect(): padding never leaks in, positions pick real tokens, the store spills to disk and reads back."""

from pathlib import Path

import models
import pytest
import torch

import interpwidgets as iw

TEXTS = ["The cat sat on the mat.", "A much longer sentence about attention heads and probes.",
         "Short.", "Transformers read text as tokens.", "Probing asks what a layer knows."]


@pytest.fixture(scope="module")
def gpt2():
    return models.gpt2("sdpa")


def _one_by_one(model, rows, site):
    """The reference: each example alone, no padding."""
    out = []
    with torch.no_grad(), iw.capture(model, site) as c:
        for r in rows:
            c.clear()
            model(torch.tensor([r]))
            out.append(c[site][0])
    return out


def test_last_and_all_positions_ignore_padding(gpt2):
    rows = [[5, 6, 7, 8, 9], [10, 11], [12, 13, 14]]
    site = "layers.1.resid_post"
    ref = _one_by_one(gpt2, rows, site)
    last = iw.collect(gpt2, {"input_ids": rows}, site, batch_size=3, positions="last", progress=False)
    torch.testing.assert_close(last[site], torch.stack([r[-1] for r in ref]), atol=1e-5, rtol=1e-5)
    assert last.index.tolist() == [[0, 4], [1, 1], [2, 2]]
    every = iw.collect(gpt2, {"input_ids": rows}, site, batch_size=2, positions="all", progress=False)
    torch.testing.assert_close(every[site], torch.cat(ref), atol=1e-5, rtol=1e-5)
    assert every.rows == 10 and every.index[:6].tolist() == [[0, 0], [0, 1], [0, 2], [0, 3], [0, 4], [1, 0]]


def test_positions_as_int_and_callable(gpt2):
    rows = [[5, 6, 7, 8, 9], [10, 11]]
    site = "layers.0.attn.head_out"
    ref = _one_by_one(gpt2, rows, site)
    first = iw.collect(gpt2, {"input_ids": rows}, site, positions=0, progress=False)
    torch.testing.assert_close(first[site], torch.stack([r[0] for r in ref]), atol=1e-5, rtol=1e-5)
    assert first[site].shape == (2, 4, 8)

    def odd_tokens(ids, i):
        return [p for p, t in enumerate(ids.tolist()) if t % 2]

    picked = iw.collect(gpt2, {"input_ids": rows}, site, positions=odd_tokens, progress=False)
    assert picked.index.tolist() == [[0, 0], [0, 2], [0, 4], [1, 1]]
    torch.testing.assert_close(picked[site][3], ref[1][1], atol=1e-5, rtol=1e-5)


def test_spilling_to_disk_gives_the_same_rows_lazily(gpt2, tmp_path):
    rows = [[i % 90 + 3 for i in range(j, j + 7)] for j in range(24)]
    sites = ["layers.*.resid_post", "layers.0.mlp.hidden"]
    memory = iw.collect(gpt2, {"input_ids": rows}, sites, batch_size=4, positions="all", progress=False)
    disk = iw.collect(gpt2, {"input_ids": rows}, sites, batch_size=4, positions="all", max_memory="20KB",
                      spill_dir=tmp_path, progress=False)
    assert not memory.spilled and disk.spilled
    assert (tmp_path / "index.json").exists() and len(list(tmp_path.glob("*.bin"))) == 3
    for s in memory:
        assert torch.equal(memory[s], disk[s])
    assert disk.stack("layers.*.resid_post").shape == (168, 2, 32)
    half = iw.collect(gpt2, {"input_ids": rows}, sites, batch_size=4, positions="last", max_memory=2000,
                      dtype=torch.bfloat16, progress=False)
    assert half.spilled and half["layers.1.resid_post"].dtype == torch.bfloat16
    torch.testing.assert_close(half["layers.1.resid_post"].float(),
                               memory["layers.1.resid_post"][memory.index[:, 1] == 6], atol=0.05, rtol=0.02)


def test_texts_with_the_real_minilm_tokenizer():
    model = models.minilm("sdpa")
    store = iw.collect(model, TEXTS, ["layers.5.resid_post", "layers.2.attn.head_out"], batch_size=2,
                       positions=0, progress=False)  # [CLS]
    assert store["layers.5.resid_post"].shape == (5, 384)
    assert store["layers.2.attn.head_out"].shape == (5, 12, 32)
    tok = models.minilm_tokenizer()
    with torch.no_grad(), iw.capture(model, "layers.5.resid_post") as c:
        model(**tok([TEXTS[1]], return_tensors="pt"))
    torch.testing.assert_close(store["layers.5.resid_post"][1], c["layers.5.resid_post"][0, 0], atol=1e-5, rtol=1e-4)


def test_a_dataloader_and_a_plain_module():
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2))
    data = torch.utils.data.TensorDataset(torch.randn(10, 4), torch.zeros(10))
    loader = torch.utils.data.DataLoader(data, batch_size=3)
    store = iw.collect(net, loader, "1", positions=None, progress=False)
    assert store["1"].shape == (10, 6)
    with torch.no_grad():
        torch.testing.assert_close(store["1"], torch.tanh(net[0](data.tensors[0])))
    with pytest.raises(ValueError, match="positions=None"):
        iw.collect(net, loader, "1", progress=False)


def test_bad_input_is_explained(gpt2):
    with pytest.raises(ValueError, match="no examples"):
        iw.collect(gpt2, [], "layers.0.resid_post", progress=False)
    with pytest.raises(ValueError, match="tokenizer="):
        iw.collect(gpt2, ["some text"], "layers.0.resid_post", progress=False)
    with pytest.raises(ValueError, match="use iw.capture"):
        iw.collect(gpt2, {"input_ids": [[1, 2]]}, "layers.0.attn.pattern", progress=False)
    with pytest.raises(ValueError, match="2GB"):
        iw.collect(gpt2, {"input_ids": [[1, 2]]}, "layers.0.resid_post", max_memory="lots", progress=False)


def test_long_texts_are_truncated_with_a_warning():
    model = models.minilm("sdpa")
    with pytest.warns(UserWarning, match="truncated"):
        store = iw.collect(model, ["word " * 600, "short"], "layers.0.resid_post", positions="all",
                           progress=False)
    assert (store.index[:, 0] == 0).sum() == 512


def test_truncation_keeps_the_last_tokens_for_the_last_position():
    """positions="last" on a text longer than the context: the row is the text's own last token."""
    model, tok = models.minilm("sdpa"), models.minilm_tokenizer()
    text = " ".join(f"word{i}" for i in range(700))
    with pytest.warns(UserWarning, match="keeping their last tokens"):
        store = iw.collect(model, [text, "short"], "layers.5.resid_post", positions="last", progress=False)
    full = tok(text)["input_ids"]
    ids = full[:1] + full[-511:]  # [CLS] kept in front, then the text's last 511 tokens, [SEP] last
    with torch.no_grad(), iw.capture(model, "layers.5.resid_post") as c:
        model(torch.tensor([ids]))
    torch.testing.assert_close(store["layers.5.resid_post"][0], c["layers.5.resid_post"][0, -1], atol=1e-5, rtol=1e-4)


def test_a_failing_batch_leaves_no_files(gpt2, tmp_path):
    import tempfile

    rows = [[1, 2, 3]] * 8 + [[gpt2.config.vocab_size + 5]]  # the third batch has a token the model lacks
    with pytest.raises(ValueError, match="outside GPT2LMHeadModel's embedding"):
        iw.collect(gpt2, {"input_ids": rows}, "layers.*.resid_post", batch_size=4, positions="all",
                   max_memory=100, spill_dir=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []
    before = set(Path(tempfile.gettempdir()).glob("iw-collect-*"))
    with pytest.raises(ValueError, match="outside GPT2LMHeadModel's embedding"):
        iw.collect(gpt2, {"input_ids": rows}, "layers.*.resid_post", batch_size=4, positions="all",
                   max_memory=100, progress=False)
    assert set(Path(tempfile.gettempdir()).glob("iw-collect-*")) == before


def test_a_site_that_drops_tokens_cannot_use_a_padded_mask():
    class DropsFirst(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed, self.proj = torch.nn.Embedding(10, 4), torch.nn.Linear(4, 4)

        def forward(self, input_ids, attention_mask=None):
            return self.proj(self.embed(input_ids)[:, 1:])

    net = DropsFirst()
    same = iw.collect(net, {"input_ids": [[1, 2, 3], [4, 5, 6]]}, "proj", positions="last", progress=False)
    assert same["proj"].shape == (2, 4)  # no padding: every position is a token
    with pytest.raises(ValueError, match="has 2 positions but the attention mask has 3, and the batch is padded"):
        iw.collect(net, {"input_ids": [[1, 2, 3], [4, 5]]}, "proj", positions="last", progress=False)


def test_token_ids_outside_the_embedding_are_named_and_models_without_one_still_run(gpt2):
    """collect checks token ids against the model's embedding (a tokenizer of another model gives a named
    error, not torch's bare IndexError); a model that does not say what its embedding is (CLIPModel raises
    NotImplementedError) is not checked, and runs as before."""
    with pytest.raises(ValueError, match=r"token id 5000 is outside GPT2LMHeadModel's embedding of 100 tokens"):
        iw.collect(gpt2, [{"input_ids": [1, 5000]}], ["layers.0.resid_post"], progress=False)

    class NoEmbedding(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(10, 4)

        def get_input_embeddings(self):
            raise NotImplementedError("not auto-handled")

        def forward(self, input_ids):
            return self.embed(input_ids)

    out = iw.collect(NoEmbedding(), [{"input_ids": [1, 2, 3]}], ["embed"], positions="all", progress=False)
    assert out["embed"].shape[-1] == 4
