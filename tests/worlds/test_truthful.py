"""The truthful worlds' shipped GPTs, re-measured. Each model card's numbers are measured again (the whole
protocol of ``evaluate.py``: settings chosen on the choose split, test results with bootstrap intervals),
compared with the card within the card's own 95% intervals, and the claims the docs make are checked on
the new measurement: what the cards say is what the models do."""

import functools
import json

import numpy as np
import pytest
import torch

import interpwidgets as iw
from interpwidgets.worlds import truthful
from interpwidgets.worlds.truthful.card import remeasure
from interpwidgets.worlds.truthful.evaluate import world_metrics
from interpwidgets.worlds.truthful.train import build_model, train

pytestmark = pytest.mark.slow

CHECKPOINTS = {"seed0": truthful.CHECKPOINT, "seed1": truthful.CHECKPOINT_SEED1, "seed2": truthful.CHECKPOINT_SEED2}


@functools.cache
def _remeasured() -> dict[str, dict]:
    """Both cards' measurements, made again now (split seeds spread over two worker processes)."""
    return remeasure(CHECKPOINTS.values())


def _world(name: str) -> dict:
    """A shipped world: its card, and the card's measurements made again now."""
    path = CHECKPOINTS[name]
    return {"name": name, "card": json.loads((path / "model_card.json").read_text()), "now": _remeasured()[str(path)]}


@pytest.fixture(scope="module")
def default():
    return truthful.load()


def _pairs(card_run: dict, now_run: dict):
    """(kind, draw in the card, the same draw measured now) for every kind and draw of one split."""
    for kind, entry in card_run["test"].items():
        for then, now in zip(entry["draws"], now_run["test"][kind]["draws"], strict=True):
            yield kind, then, now


@pytest.mark.parametrize("name", list(CHECKPOINTS))
def test_the_card_is_re_measured(name):
    world = _world(name)
    card, now = world["card"], world["now"]
    assert now["metrics"]["questions"] == card["metrics"]["questions"] == 120
    for situation in ("cold", "after_truthful_answers", "after_untruthful_answers"):
        for answer, share in card["metrics"][situation].items():  # one question is 1/120
            assert abs(now["metrics"][situation][answer] - share) <= 1 / 120 + 1e-9, (situation, answer)
    assert now["metrics"]["document_loss"] == pytest.approx(card["metrics"]["document_loss"], abs=0.01)
    runs = card["iti"]["runs"]
    assert [r["split_seed"] for r in now["iti"]["runs"]] == [r["split_seed"] for r in runs]
    for then_run, now_run in zip(runs, now["iti"]["runs"], strict=True):
        assert now_run["questions"] == then_run["questions"]
        for kind, then, now_draw in _pairs(then_run, now_run):
            # within the card's own interval: the tolerance is what the card says the number is worth
            c, n = then["at_chosen"], now_draw["at_chosen"]
            assert abs(n["truth"] - c["truth"]) <= (c["truth_hi"] - c["truth_lo"]) / 2 + 1e-9, (kind, c, n)
            assert n["kl"] == pytest.approx(c["kl"], rel=0.1, abs=0.005), kind
            for cost in ("at_kl", "at_ce_rise"):
                for j, t in enumerate(then[cost]["truth"]):
                    if t is not None and now_draw[cost]["truth"][j] is not None:
                        half = (then[cost]["truth_hi"][j] - then[cost]["truth_lo"][j]) / 2
                        assert abs(now_draw[cost]["truth"][j] - t) <= half + 1e-9, (kind, cost, j)


def test_the_default_world_lies_cold_and_reads_the_persona(default):
    m = world_metrics(*default)
    assert m["cold"]["misconception"] >= 0.95
    assert m["after_truthful_answers"]["true"] >= 0.95
    assert m["after_untruthful_answers"]["misconception"] >= 0.95


def test_the_second_world_never_learned_to_read_the_persona_and_iti_does_little():
    """Seed 1: the same recipe, no persona inference. Cold answers are the misconception, most answers stay false
    after a truthful context, and no edit makes most test answers true at any cost compared."""
    now = _world("seed1")["now"]
    assert now["metrics"]["cold"]["misconception"] >= 0.95
    assert now["metrics"]["after_truthful_answers"]["true"] < 0.5
    for kind, curve in now["iti"]["summary"]["truth_at_kl"].items():
        assert all(t is None or t < 0.5 for t in curve["truth"]), kind


def _level(run: dict, level: float, key: str = "differences_at_kl", pair: str = "mass_mean-random") -> dict:
    d = run[key][pair]
    j = d["level"].index(level)
    return {k: d[k][j] for k in ("truth", "truth_lo", "truth_hi")}


def test_truth_directions_beat_random_ones_at_matched_cost():
    """Default world: mass-mean and probe-weight edits make more test answers true than random directions on the
    same heads at the same KL, on average at every level; with the spread between random draws counted, the
    paired interval at KL 0.05 is above zero in at least two of the three splits; and at most a third of the
    random draws do as well as mass-mean."""
    now = _world("seed0")["now"]["iti"]
    for pair in ("mass_mean-random", "probe-random"):
        assert all(v > 0 for v in now["summary"]["differences_at_kl"][pair]["truth"]), pair
        assert sum(_level(run, 0.05, pair=pair)["truth_lo"] > 0 for run in now["runs"]) >= 2, pair
    matched, draws = now["summary"]["random_draws_at_least_mass_mean_at_kl_0.05"]
    assert matched <= draws / 3


def test_neither_truth_direction_is_ahead_at_matched_cost_in_every_world():
    """At equal KL the order of mass-mean and probe weights depends on the checkpoint: in the default world
    probe weights are not behind on average and clearly ahead in one split; in the third (seed 2) mass-mean is
    ahead on average and clearly ahead in at least two of the three splits."""
    default = _world("seed0")["now"]["iti"]
    mean = default["summary"]["differences_at_kl"]["probe-mass_mean"]
    assert all(v >= 0 for v, level in zip(mean["truth"], mean["level"], strict=True) if 0.02 <= level <= 0.1)
    assert any(_level(run, 0.05, pair="probe-mass_mean")["truth_lo"] > 0 for run in default["runs"])
    third = _world("seed2")["now"]["iti"]
    mean = third["summary"]["differences_at_kl"]["probe-mass_mean"]
    assert all(v < 0 for v, level in zip(mean["truth"], mean["level"], strict=True) if 0.02 <= level <= 0.1)
    assert sum(_level(run, 0.05, pair="probe-mass_mean")["truth_hi"] < 0 for run in third["runs"]) >= 2


@pytest.mark.parametrize(("name", "splits"), [("seed0", 3), ("seed2", 2)])
def test_at_equal_alpha_mass_mean_is_far_ahead(name, splits):
    """The paper's comparison: at mass-mean's chosen alpha the probe-weight edit makes fewer answers true (the
    paired interval above zero: in every split of the default world, in two of three in the third, where in
    one split the two directions nearly coincide) and never moves the model more."""
    runs = _world(name)["now"]["iti"]["runs"]
    assert sum(run["mass_mean-probe_at_equal_alpha"]["truth_lo"][0] > 0 for run in runs) >= splits
    for run in runs:
        assert run["probe_kl_at_mass_mean_alpha"] <= run["test"]["mass_mean"]["draws"][0]["at_chosen"]["kl"]


@pytest.mark.parametrize("name", list(CHECKPOINTS))
def test_the_edit_starts_from_the_lie_and_costs_grow_with_alpha(name):
    for run in _world(name)["now"]["iti"]["runs"]:
        for kind, entry in run["test"].items():
            for draw in entry["draws"]:
                c = draw["curve"]
                assert c["alpha"][0] == 0 and c["truth"][0] <= 0.05 and c["kl"][0] == 0, kind
                kl = np.asarray(c["kl"])
                assert (np.diff(kl) >= -1e-3).all() and kl[-1] > 0.2, kind  # rises; passes every level compared
                ce = np.asarray(c["cross_entropy"])
                assert ce[-1] > ce[0], kind


def _chance_bound(n: int, tests: int, alpha: float = 0.05) -> float:
    """The accuracy a probe that reads nothing passes on ``n`` balanced examples with probability below
    ``alpha / tests`` (a binomial tail, Bonferroni over ``tests`` heads)."""
    from math import comb

    tail = 0.0
    for k in range(n, -1, -1):
        tail += comb(n, k) / 2 ** n
        if tail >= alpha / tests:
            return (k + 1) / n
    return 0.0


def test_truth_is_readable_in_a_minority_of_heads_and_not_at_random_init(default):
    """Some head reads truth beyond what chance allows over 32 heads, fewer than half of them do, and a
    randomly initialised copy of the network has no such head."""
    model, tokenizer, w = default
    fit, _, _ = w.split(0)
    iti = truthful.fit_iti(model, tokenizer, fit)
    acc = iti.probes.metrics["val_accuracy"].flatten()
    bound = _chance_bound(len(iti.probes.val_idx), len(acc))  # 20 validation answers, 32 heads: 0.85
    assert acc.max() >= bound and (acc >= bound).sum() < len(acc) / 2
    texts, labels, groups = truthful.labelled_answers(fit)
    control = iw.ITI.fit(build_model(tokenizer, seed=1).eval(), texts, labels, tokenizer=tokenizer, groups=groups,
                         k=4, progress=False)
    assert control.probes.metrics["val_accuracy"].max() < bound


def test_training_runs_and_resumes(tmp_path, capsys, monkeypatch):
    from interpwidgets.worlds.truthful import train as train_module

    real_batch, calls = train_module.batch, []

    def killed_at_step_3(*args, **kwargs):  # the session ends after step 2's checkpoint
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_batch(*args, **kwargs)

    monkeypatch.setattr(train_module, "batch", killed_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        train(3, tmp_path / "work", None, batch_size=4, log_every=1, save_every=1, measured=False)
    assert torch.load(tmp_path / "work" / "state.pt", weights_only=False)["step"] == 2
    card = train(3, tmp_path / "work", tmp_path / "out", batch_size=4, log_every=1, save_every=1, measured=False)
    assert "resumed at step 2" in capsys.readouterr().out and len(calls) == 4  # one more step, not three
    assert card["training"]["steps"] == 3
    model, _, w = truthful.load(tmp_path / "out")  # what train.py writes is what load() reads
    assert next(model.parameters()).dtype == torch.float32
    assert w.truthful_share == card["world"]["truthful_share_of_documents"]
    with pytest.raises(ValueError, match="another recipe"):  # another seed never continues this run
        train(3, tmp_path / "work", None, seed=1, batch_size=4, log_every=1, save_every=1, measured=False)


def test_train_needs_an_output_folder():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "interpwidgets.worlds.truthful.train", "--steps", "1"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "--out" in out.stderr  # the shipped checkpoint is never overwritten by default


def test_the_view_shows_the_lie_and_the_edited_truth(default):
    model, tokenizer, w = default
    card = json.loads((truthful.CHECKPOINT / "model_card.json").read_text())
    chosen = card["iti"]["runs"][0]["test"]["mass_mean"]["draws"][0]["chosen"]
    fit, _, test = w.split(0)
    iti = truthful.fit_iti(model, tokenizer, fit, k=chosen["k"])
    prompts = ["<bos> " + truthful.qa(q) for q in test[:8]]
    view = iw.ITIView(model, tokenizer, iti, prompts, alpha=chosen["alpha"], max_new_tokens=2, background=False)
    flips = 0
    for i, q in enumerate(test[:8]):
        view.prompt_index = i
        view.wait()
        assert view.plain_tokens == [f" {q.false}", " ."]  # words keep their spaces as they stream
        flips += view.edited_tokens[0] == f" {q.true}"
    assert flips >= 5


def test_measuring_leaves_the_tokenizer_as_it_was(default, tmp_path):
    """The judge pads prompts on the left for one call only: the tokenizer (and what save_pretrained writes,
    padding state included) still pads on the right afterwards. A tokenizer saved left-padding made the
    document loss of a checkpoint trained with an earlier draft read 0.69 instead of 0.42."""
    from transformers import PreTrainedTokenizerFast

    model, tokenizer, w = default
    truthful.judge(model, tokenizer, w.questions[:4])(None, 0.0)
    world_metrics(model, tokenizer, w, w.questions[:4])
    tokenizer.save_pretrained(tmp_path)
    for tok in (tokenizer, PreTrainedTokenizerFast.from_pretrained(tmp_path)):
        mask = tok(["<bos> Q : what", "<bos> Q"], padding=True, return_tensors="pt")["attention_mask"]
        assert mask[1].tolist() == [1, 1, 0, 0]


def test_the_view_ends_each_answer_at_the_worlds_stop_and_marks_it(default):
    """With ``stop=ANSWER_END`` an answer ends at its " ." (not in the next "Q :"), and the world's judge
    marks each answer true or misconception."""
    model, tokenizer, w = default
    _, _, test = w.split(0)
    questions = test[:6]
    iti = truthful.fit_iti(model, tokenizer, w.split(0).fit, k=4)
    prompts = ["<bos> " + truthful.qa(q) for q in questions]
    view = iw.ITIView(model, tokenizer, iti, prompts, alpha=6.0, max_new_tokens=12, background=False,
                      stop=truthful.ANSWER_END, judge=truthful.answer_judge(questions))
    marks = []
    for i, q in enumerate(questions):
        view.prompt_index = i
        view.wait()
        assert view.plain_tokens == [f" {q.false}", " ."]  # 2 of the 12 tokens allowed: it stopped at " ."
        assert view.verdicts["plain"] == "misconception"
        edited = "".join(view.edited_tokens)
        assert edited.endswith(" .") and edited.count(".") == 1
        marks.append(view.verdicts["edited"])
    # the marks agree with the world's own judge (the greedy next token under the same edit, batched)
    correct = truthful.judge(model, tokenizer, questions)(iti, 6.0)
    assert [m == "true" for m in marks] == correct.tolist() and "true" in marks


def test_loading_a_world_prints_no_warning():
    """A labelled forward of the shipped GPT (the document loss) warns about ``loss_type=None`` unless the
    loader names the loss; run in a fresh process, since transformers warns once per process."""
    import subprocess
    import sys

    code = ("from interpwidgets.worlds import truthful; m, t, w = truthful.load(); "
            "ids = t('<bos> Q : what', return_tensors='pt').input_ids; print(m(ids, labels=ids).loss.item())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "loss_type" not in out.stderr and "warn" not in out.stderr.lower(), out.stderr


def test_the_fused_gelu_is_the_activation_the_worlds_were_trained_with(default):
    """The checkpoints were trained with transformers' "gelu_new"; they run on torch's fused tanh GELU (the
    same function, a third of the card's measuring time saved): the logits agree to float rounding."""
    from transformers.activations import ACT2FN

    model, tokenizer, _ = default
    assert model.config.activation_function == "gelu_pytorch_tanh"
    ids = tokenizer(["<bos> Q : what does a glimmerfox eat ? A :"] * 2, return_tensors="pt").input_ids
    with torch.no_grad():
        fused = model(ids).logits
        acts = [block.mlp.act for block in model.transformer.h]
        try:
            for block in model.transformer.h:
                block.mlp.act = ACT2FN["gelu_new"]
            trained = model(ids).logits
        finally:
            for block, act in zip(model.transformer.h, acts, strict=True):
                block.mlp.act = act
    assert (fused - trained).abs().max() < 1e-4 * trained.abs().max()
