"""ITI's costs: cross-entropy and KL against a hand computation, and growing with alpha."""

import models
import pytest
import torch

from interpwidgets.iti import ITI
from interpwidgets.iti.metrics import edit_costs


def test_costs_match_a_hand_computation_and_grow_with_alpha():
    model = models.gpt2()
    g = torch.Generator().manual_seed(1)
    rows = [{"input_ids": torch.randint(3, 100, (n,), generator=g).tolist()} for n in (9, 5, 12)]
    iti = ITI.from_activations(torch.randn(200, 2, 4, 8, generator=g), torch.arange(200) % 2, k=4)
    costs = edit_costs(model, iti, rows, [0.0, 2.0, 8.0, 32.0], batch_size=2, progress=False)
    # alpha 0 is the plain model: its mean next-token loss over the 8 + 4 + 11 predicted tokens
    with torch.no_grad():
        nll = sum(model(torch.tensor([r["input_ids"]]), labels=torch.tensor([r["input_ids"]])).loss.item()
                  * (len(r["input_ids"]) - 1) for r in rows)
    assert abs(costs["cross_entropy"][0] - nll / 23) < 1e-5
    assert costs["kl"][0] == 0.0
    assert costs["kl"] == sorted(costs["kl"]) and costs["kl"][1] > 0  # the further the push, the further away
    # by hand for alpha 8: KL(plain || edited) of every next-token distribution, averaged over the 23, with
    # every position edited (the paper's code for these costs); the generation edit (last position only)
    # changes only each text's last prediction, which is not predicted: no cost at all
    for positions in ("all", "last"):
        kl = 0.0
        for r in rows:
            ids = torch.tensor([r["input_ids"]])
            with torch.no_grad():
                p = model(ids).logits[0, :-1].log_softmax(-1)
                with iti.apply(model, 8.0, positions=positions):
                    q = model(ids).logits[0, :-1].log_softmax(-1)
            kl += (p.exp() * (p - q)).sum().item()
        got = edit_costs(model, iti, rows, [8.0], positions=positions, batch_size=2, progress=False)["kl"][0]
        assert abs(got - kl / 23) < 1e-5, positions
    assert abs(costs["kl"][2] - edit_costs(model, iti, rows, [8.0], progress=False)["kl"][0]) < 1e-6  # "all"


def test_costs_hold_one_batch_of_log_probabilities_at_a_time(monkeypatch):
    """Memory: each batch's unedited run is compared with its edited runs at once; nothing is kept after."""
    import gc
    import weakref

    from interpwidgets.iti import metrics

    model = models.gpt2()
    rows = [{"input_ids": list(range(3, 3 + n))} for n in (9, 5, 12, 7, 6, 11, 8, 10)]
    iti = ITI.from_activations(torch.randn(200, 2, 4, 8), torch.arange(200) % 2, k=2)
    alive, most = [], [0]
    real = metrics._log_probs

    def counted(*args):
        gc.collect()
        most[0] = max(most[0], sum(r() is not None for r in alive))
        out = real(*args)
        alive.append(weakref.ref(out))
        return out

    monkeypatch.setattr(metrics, "_log_probs", counted)
    edit_costs(model, iti, rows, [1.0, 2.0, 4.0], batch_size=2, progress=False)
    assert len(alive) == 4 * (1 + 3)  # 4 batches, each run unedited once and edited three times
    assert most[0] <= 2  # at any time: this batch's unedited log-probabilities and at most one edited run


def test_answer_log_likelihoods_edit_the_answer_only():
    """By hand: the sum of the answer tokens' log-probabilities after the prompt. Under the edit (from the
    answer's first token on, as the paper's multiple-choice code), a one-token answer, predicted at the
    unedited prompt's last position, scores exactly as unedited; a longer one does not."""
    from interpwidgets.iti.metrics import answer_log_likelihoods

    model = models.gpt2()
    g = torch.Generator().manual_seed(2)
    iti = ITI.from_activations(torch.randn(200, 2, 4, 8, generator=g), torch.arange(200) % 2, k=4)
    prompt, long, short = [5, 17, 42, 9, 3], [11, 12, 13], [11]
    with torch.no_grad():
        lp = model(torch.tensor([prompt + long])).logits[0].log_softmax(-1)
    want = sum(lp[len(prompt) - 1 + j, t].item() for j, t in enumerate(long))
    plain = answer_log_likelihoods(model, [(prompt, long), (prompt, short)], progress=False)
    assert abs(plain[0].item() - want) < 1e-5
    edited = answer_log_likelihoods(model, [(prompt, long), (prompt, short)], iti, 20.0, progress=False)
    assert edited[1].item() == plain[1].item()  # the prompt is read unedited
    assert abs(edited[0].item() - plain[0].item()) > 1e-3  # the answer's own positions are edited
    with torch.no_grad(), iti.apply(model, 20.0, positions="all"):
        everywhere = model(torch.tensor([prompt + short])).logits[0, len(prompt) - 1].log_softmax(-1)[11].item()
    assert abs(everywhere - plain[1].item()) > 1e-4  # (editing the prompt too would have changed it)
    with pytest.raises(ValueError, match="need a tokenizer"):
        answer_log_likelihoods(model, [("Q: is it?", " yes")], progress=False)
    with pytest.raises(ValueError, match="at least one token"):
        answer_log_likelihoods(model, [(prompt, [])], progress=False)


def _by_hand(model, iti, alpha, prompt, answer):
    """The paper's multiple-choice pass: prompt + answer in one unpadded pass, edited from the answer on."""
    positions = list(range(len(prompt), len(prompt) + len(answer)))
    with torch.no_grad(), iti.apply(model, alpha, positions=positions):
        lp = model(torch.tensor([prompt + answer])).logits[0].log_softmax(-1)
    return sum(lp[len(prompt) - 1 + j, t].item() for j, t in enumerate(answer))


def test_multiple_choice_scores_as_one_unpadded_pass_per_answer():
    """Batched (prompts of different lengths padded left, answers right, three rows a batch) and read on the
    kept prompt caches, each answer scores as the paper's own pass would, call after call; MC1 and MC2 follow
    from those scores."""
    from interpwidgets.iti.metrics import MultipleChoice

    model = models.gpt2()  # absolute positions: padding would show if positions were not counted per row
    g = torch.Generator().manual_seed(3)
    iti = ITI.from_activations(torch.randn(200, 2, 4, 8, generator=g), torch.arange(200) % 2, k=4)
    prompts = [[5, 17, 42, 9, 3], [8, 4], [30, 31, 32, 33, 34, 35, 36]]
    true = [[[11, 12, 13]], [[14], [15, 16]], [[20, 21]]]
    false = [[[17]], [[18, 19, 20, 21]], [[22], [23, 24, 25]]]
    mc = MultipleChoice(model, prompts, true, false, batch_size=3)
    for alpha in (0.0, 25.0, 0.0, 25.0):  # the second round reads the kept caches
        got = mc.log_likelihoods(iti, alpha)
        for q, (yes, no) in enumerate(got):
            want = [_by_hand(model, iti, alpha, prompts[q], a) for a in true[q] + false[q]]
            assert torch.cat([yes, no]).tolist() == pytest.approx(want, abs=1e-4), (alpha, q)
    ll = mc.log_likelihoods(iti, 25.0)
    per_token = MultipleChoice(model, prompts, true, false, per_token=True).log_likelihoods(iti, 25.0)
    assert per_token[1][1].item() == pytest.approx(ll[1][1].item() / 4)  # a four-token answer's mean
    models.assert_engine_clean(model)


def test_mc1_is_the_best_answer_against_every_false_one_and_mc2_the_true_share():
    """TruthfulQA's definitions, on log-likelihoods set by hand: MC1 asks whether the first (best) true
    answer beats the most likely false one, whatever the other true answers score; MC2 is the true answers'
    share of the normalised probability."""
    from interpwidgets.iti.metrics import MultipleChoice

    mc = MultipleChoice(models.gpt2(), [[5, 6]] * 3, [[[1], [2]], [[3]], [[4], [5]]], [[[6]], [[7], [8]], [[9]]])
    scores = [(torch.tensor([-3.0, -1.0]), torch.tensor([-2.0])),  # a second true answer beats the false one
              (torch.tensor([-1.0]), torch.tensor([-2.0, -0.5])),  # the best false answer wins
              (torch.tensor([-1.0, -4.0]), torch.tensor([-2.0]))]
    mc.log_likelihoods = lambda iti=None, alpha=0.0: scores
    assert mc.mc1().tolist() == [False, False, True]
    e = torch.tensor([-3.0, -1.0, -2.0]).exp()
    assert mc.mc2()[0] == pytest.approx(float((e[0] + e[1]) / e.sum()))
    assert mc.mc2()[1] == pytest.approx(float(torch.tensor([-1.0, -2.0, -0.5]).softmax(0)[0]))


def test_multiple_choice_reads_each_prompt_once():
    from interpwidgets.iti.metrics import MultipleChoice

    model = models.gpt2()
    lengths = []
    handle = model.register_forward_pre_hook(lambda m, args, kw: lengths.append(kw["input_ids"].shape[1]),
                                             with_kwargs=True)
    try:
        mc = MultipleChoice(model, [[5, 6, 7, 8, 9, 10]] * 4, [[[1]]] * 4, [[[2, 3]]] * 4, batch_size=8)
        mc.mc1()
        mc.mc1()
    finally:
        handle.remove()
    assert lengths == [6, 2, 2]  # the prompts once (one batch of 8 rows), then only the answers, twice
    again = MultipleChoice(model, [[5, 6, 7, 8, 9, 10]] * 4, [[[1]]] * 4, [[[2, 3]]] * 4, keep_prompts=False)
    assert again.mc2().tolist() == pytest.approx(mc.mc2().tolist())


def test_multiple_choice_refuses_what_it_cannot_score():
    from interpwidgets.iti.metrics import MultipleChoice

    model = models.gpt2()
    with pytest.raises(ValueError, match="one list of true and one of false answers per prompt"):
        MultipleChoice(model, [[1, 2]], [[[3]]], [])
    with pytest.raises(ValueError, match="question 0: it needs at least one true and one false answer"):
        MultipleChoice(model, [[1, 2]], [[[3]]], [[]])
    with pytest.raises(ValueError, match="question 1: the prompt and every answer need at least one token"):
        MultipleChoice(model, [[1, 2], [3]], [[[3]], [[4]]], [[[5]], [[]]])
    with pytest.raises(ValueError, match="need a tokenizer"):
        MultipleChoice(model, ["Is it?"], [[" yes"]], [[" no"]])
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        MultipleChoice(model, [[1, 2]], [[[3]]], [[[4]]], batch_size=0)
