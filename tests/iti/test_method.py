"""ITI's method: the planted truth direction is found, the edit's arithmetic is exact, files round-trip."""

import models
import pytest
import torch

import interpwidgets as iw
from interpwidgets.iti import ITI


def _planted(n=400, layers=2, heads=4, d=8, seed=0):
    """Activations where layer 1, head 2 carries the label along a known direction; others are noise."""
    g = torch.Generator().manual_seed(seed)
    acts = torch.randn(n, layers, heads, d, generator=g)
    labels = torch.arange(n) % 2
    truth = torch.randn(d, generator=g)
    truth /= truth.norm()
    acts[:, 1, 2] += 1.5 * (2 * labels[:, None] - 1) * truth
    return acts, labels, truth


def test_the_planted_head_and_direction_are_found():
    acts, labels, truth = _planted()
    iti = ITI.from_activations(acts, labels, k=3, groups=torch.arange(400) // 2)
    assert iti.heads[0] == (1, 2)
    acc = iti.probes.metrics["val_accuracy"]
    assert acc[1, 2] > 0.9 and acc.flatten().sort().values[-2] < 0.7  # the others are near chance
    for kind in ("mass_mean", "probe"):
        assert torch.dot(iti.select(kind=kind).theta()[0], truth) > 0.95
    assert abs(torch.dot(iti.select(kind="random").theta()[0], truth)) < 0.9
    # as in the paper's code: the mass-mean direction and sigma over every example ITI is fitted on
    # (probe training and validation questions alike), by hand
    x = acts[:, 1, 2]
    shift = x[labels == 1].mean(0) - x[labels == 0].mean(0)
    theta = iti.directions["mass_mean"][1, 2]
    torch.testing.assert_close(theta, shift / shift.norm())
    torch.testing.assert_close(iti.sigma["mass_mean"][1, 2], (x @ theta).std())
    probe_theta = iti.directions["probe"][1, 2]
    torch.testing.assert_close(iti.sigma["probe"][1, 2], (x @ probe_theta).std())
    # a question's two answers never straddle the split
    assert not set((iti.probes.train_idx // 2).tolist()) & set((iti.probes.val_idx // 2).tolist())


@pytest.mark.parametrize("family", ["gpt2", "llama"])
@pytest.mark.parametrize("positions", ["last", "all"])
def test_the_edit_adds_alpha_sigma_theta_to_each_selected_head(family, positions):
    model = getattr(models, family)()
    cfg = model.config
    layers, heads = cfg.num_hidden_layers, cfg.num_attention_heads
    d_head = cfg.hidden_size // heads
    acts, labels, _ = _planted(layers=layers, heads=heads, d=d_head)
    iti = ITI.from_activations(acts, labels, k=3)
    ids = models.tokens(model, batch=2, seq=7)
    sites = [f"layers.{i}.attn.head_out" for i in range(layers)]
    with torch.no_grad(), iw.capture(model, sites) as plain:
        model(ids)
    alpha = 2.5
    with torch.no_grad(), iti.apply(model, alpha, positions=positions), iw.capture(model, sites) as edited:
        model(ids)
    shifts = iti.shifts()
    edited_positions = [6] if positions == "last" else list(range(7))  # the paper's generation edit: the last
    # the first edited layer sees only its own edit (later ones also see its downstream effect)
    first = min(layer for layer, _ in iti.heads)
    site = f"layers.{first}.attn.head_out"
    for head in range(heads):
        diff = edited[site][:, :, head] - plain[site][:, :, head]
        if (first, head) in iti.heads:
            expected = torch.zeros_like(diff)
            expected[:, edited_positions] = alpha * shifts[iti.heads.index((first, head))]  # alpha * sigma * theta
            torch.testing.assert_close(diff, expected, atol=1e-5, rtol=0)
        else:
            assert diff.abs().max() == 0  # a head not selected: untouched


@pytest.mark.parametrize("alpha", [4.0, -4.0])
def test_the_edit_applies_at_every_generated_token(alpha):
    """The default edit: the last prompt token, then each generated token; a negative alpha pushes the other way."""
    model = models.gpt2()
    acts, labels, _ = _planted(layers=2, heads=4, d=8)
    iti = ITI.from_activations(acts, labels, k=1)  # layer 1, head 2
    prompt = models.tokens(model, batch=1, seq=4)
    kw = dict(max_new_tokens=5, do_sample=False, pad_token_id=0)
    with torch.no_grad(), iti.apply(model, alpha), iw.capture(model, "layers.1.attn.head_out") as cache:
        out = model.generate(prompt, **kw)
    # recompute head 2 on the generated text without the edit: the shift from the prompt's last token on
    with torch.no_grad(), iw.capture(model, "layers.1.attn.head_out") as plain:
        model(out[:, :-1])
    diff = cache["layers.1.attn.head_out"][0, :, 2] - plain["layers.1.attn.head_out"][0, :, 2]
    assert diff.shape[0] == 4 + 5 - 1
    assert diff[:3].abs().max() < 1e-6  # the prompt before its last token: not edited
    torch.testing.assert_close(diff[3:], (alpha * iti.shifts()[0]).expand_as(diff[3:]), atol=1e-5, rtol=0)


def test_positions_must_be_last_all_or_an_index():
    acts, labels, _ = _planted()
    with pytest.raises(ValueError, match="positions must be one of \\('last', 'all'\\) or an index, got 'first'"):
        ITI.from_activations(acts, labels, k=1).edits(1.0, positions="first")


def test_fit_on_texts_collects_the_last_token():
    """Texts of many lengths, padded in shared batches: the features are each head's output at each text's
    own last token (checked against one unpadded forward pass per text)."""
    from tokenizers import Tokenizer, pre_tokenizers
    from tokenizers import models as tok_models
    from transformers import PreTrainedTokenizerFast

    words = ["<pad>", "Q", "A", ":", "is", "fire", "hot", "cold", "ice", "snow", "the", "very", "yes", "no", "."]
    tok = Tokenizer(tok_models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>")
    model = models.gpt2(vocab_size=len(words))
    g = torch.Generator().manual_seed(0)
    texts, labels = [], []
    for _ in range(40):
        n = int(torch.randint(1, 5, (1,), generator=g))
        stem = " ".join(words[int(j)] for j in torch.randint(4, 12, (n,), generator=g))
        for answer, label in (("yes", 1), ("no", 0)):
            texts.append(f"Q : {stem} A : {answer}")
            labels.append(label)
    groups = [i // 2 for i in range(len(texts))]
    iti = ITI.fit(model, texts, labels, tokenizer=tokenizer, groups=groups, k=2, batch_size=7, progress=False)
    by_hand = []
    for text in texts:
        with torch.no_grad(), iw.capture(model, "layers.*.attn.head_out") as cache:
            model(tokenizer(text, return_tensors="pt").input_ids)
        by_hand.append(cache.stack("layers.*.attn.head_out")[:, 0, -1])  # [layers, heads, d] at the last token
    again = ITI.from_activations(torch.stack(by_hand), labels, groups=groups, k=2)
    torch.testing.assert_close(iti.probes.weight, again.probes.weight, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(iti.directions["mass_mean"], again.directions["mass_mean"], atol=1e-5, rtol=1e-4)


def test_bad_input_is_named(tmp_path):
    acts, labels, _ = _planted()
    with pytest.raises(ValueError, match="k must be between 1 and the number of heads \\(8\\), got 9"):
        ITI.from_activations(acts, labels, k=9)
    with pytest.raises(ValueError, match="both true \\(1\\) and false \\(0\\) examples; got only \\[1\\]"):
        ITI.from_activations(acts, torch.ones(400, dtype=torch.long), k=1)
    with pytest.raises(ValueError, match="400 examples but 3 labels"):
        ITI.from_activations(acts, [0, 1, 0], k=1)
    with pytest.raises(ValueError, match="direction kind must be one of"):
        ITI.from_activations(acts, labels, k=1).select(kind="median")
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        ITI.fit(models.gpt2(), ["a", "b"], [1])
    with pytest.raises(ValueError, match="cannot read per-head outputs"):
        ITI.fit(torch.nn.Sequential(torch.nn.Linear(4, 4)), ["a", "b"], [1, 0])  # no attention heads at all


def test_save_load_and_select(tmp_path):
    acts, labels, _ = _planted()
    iti = ITI.from_activations(acts, labels, k=3, kind="probe")
    again = ITI.load(iti.save(tmp_path / "iti"))
    assert again.heads == iti.heads and again.kind == "probe"
    torch.testing.assert_close(again.shifts(), iti.shifts())
    fewer = iti.select(k=1, kind="mass_mean")
    assert fewer.heads == iti.heads[:1] and fewer.probes is iti.probes  # no refit
    picked = iti.select(heads=[(0, 1), (1, 3)])
    assert picked.heads == [(0, 1), (1, 3)] and picked.k == 2 and set(picked.edits(1.0)) == {
        "layers.0.attn.head_out", "layers.1.attn.head_out"}
    assert ITI.load(picked.save(tmp_path / "picked")).heads == [(0, 1), (1, 3)]
    with pytest.raises(ValueError, match="within 2 x 4; got \\[\\(2, 0\\)\\]"):
        iti.select(heads=[(2, 0)])
