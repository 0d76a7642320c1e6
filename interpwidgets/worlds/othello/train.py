"""Train the Othello world's GPT: ``python -m interpwidgets.worlds.othello.train --out FOLDER``.

The GPT (``RECIPE``: 6 layers x 4 heads, width 128, the paper's vocabulary) learns to name the next move of
games of uniformly random legal moves, drawn afresh for every batch (``random_games`` with the seed
``[RECIPE["seed"], step]``; the choose and test games of the card come from other seeds). AdamW; each of the
recipe's stages has a linear warm-up and a cosine decay, and its own target:

- ``"next move"`` (the paper's loss): cross-entropy on the move the game played next, padding ignored;
- ``"legal moves"`` (our departure): cross-entropy against the uniform distribution over the engine's legal
  moves. A random game's next move *is* drawn uniformly from the legal moves, so this loss is exactly the
  expectation of the first over the move played (the same minimum), without the noise of the one move the
  game happened to play. The shipped run took it as a second stage, after the first stopped
  at 4% illegal top-1 moves on the choose games; the recipe's third stage (a warm restart at a lower rate,
  after the second stopped at 1.7%) is under way, and the shipped checkpoint is still the second's end.

The full state (fp32 weights, the optimizer, the step) goes to ``--work`` every ``--save-every`` seconds and
on SIGTERM; the fp16 HF checkpoint (``config.json``, ``model.safetensors``) and ``training_state.json`` go to
``--out`` at the same time. A run resumes from ``--work``, else from ``--out`` (fp16 weights, a fresh
optimizer); a finished run whose stages begin the recipe's goes on with the stages it has not done.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from ...cache_dir import cache_dir
from ..training import command_line, device_label, stop_on_sigterm
from . import SPLIT_SEEDS
from .engine import random_games, trace
from .model import PAD, SQUARE_OF_TOKEN, VOCAB_SIZE, config, encode, legal_top1_error

HERE = Path(__file__).resolve().parent
RECIPE = dict(seed=0, n_layer=6, n_head=4, n_embd=128, batch=128, weight_decay=0.01, stages=[
    dict(target="next move", steps=8000, warmup=300, lr=1e-3, min_lr=1e-4),
    dict(target="legal moves", steps=6000, warmup=200, lr=1e-3, min_lr=2e-5),
    dict(target="legal moves", steps=7000, warmup=200, lr=6e-4, min_lr=1e-5)])
TARGETS = ("next move", "legal moves")
CHOOSE_GAMES = 500  # the held-out games (seed SPLIT_SEEDS["choose"]) whose error is printed while training


def build(recipe: dict):
    from transformers import GPT2LMHeadModel

    with torch.random.fork_rng(devices=[]):  # seeded, and the caller's random state left as it was
        torch.manual_seed(recipe["seed"])
        model = GPT2LMHeadModel(config(recipe["n_layer"], recipe["n_head"], recipe["n_embd"]))
    model.loss_type = "ForCausalLM"
    return model


def total_steps(recipe: dict) -> int:
    return sum(stage["steps"] for stage in recipe["stages"])


def stage_at(recipe: dict, step: int) -> tuple[dict, int]:
    """The stage that global ``step`` falls in, and the step within it."""
    for stage in recipe["stages"]:
        if step < stage["steps"]:
            return stage, step
        step -= stage["steps"]
    raise ValueError(f"step {step} is past the recipe's {total_steps(recipe)} steps")


def learning_rate(recipe: dict, step: int) -> float:
    stage, step = stage_at(recipe, step)
    if step < stage["warmup"]:
        return stage["lr"] * (step + 1) / stage["warmup"]
    done = (step - stage["warmup"]) / max(1, stage["steps"] - stage["warmup"])
    return stage["min_lr"] + (stage["lr"] - stage["min_lr"]) * 0.5 * (1 + np.cos(np.pi * done))


def loss(model, games: np.ndarray, target: str) -> torch.Tensor:
    """The training loss of ``games`` (square indices, ``-1`` padding) under ``target`` (``TARGETS``)."""
    dev = next(model.parameters()).device
    tokens = torch.from_numpy(encode(games)).to(dev)
    logits = model(input_ids=tokens[:, :-1]).logits
    if target == "next move":
        labels = tokens[:, 1:].masked_fill(tokens[:, 1:] == PAD, -100)
        return torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB_SIZE), labels.reshape(-1))
    if target != "legal moves":
        raise ValueError(f"unknown target {target!r}: one of {TARGETS}")
    legal = np.zeros((*tokens[:, 1:].shape, VOCAB_SIZE), np.float32)  # after move t (index t + 1) comes t + 1
    legal[..., 1:] = trace(games).legal_mask()[:, 1:tokens.shape[1]][..., SQUARE_OF_TOKEN[1:]]
    legal[games[:, 1:] < 0] = 0  # no next move: the game is over
    legal = torch.from_numpy(legal).to(dev)
    count = legal.sum(-1)
    per_position = -(legal * logits.float().log_softmax(-1)).sum(-1) / count.clamp_min(1)
    return per_position[count > 0].mean()


def _restore(model, opt, work_file: Path, out: Path, recipe: dict) -> dict:
    state = {"recipe": recipe, "step": 0, "seconds": 0.0, "trained_on": {}, "losses": [], "choose_error": []}
    if work_file.exists():
        s = torch.load(work_file, weights_only=False, map_location="cpu")
        saved = s["state"]
    elif (out / "training_state.json").exists():
        from safetensors.torch import load_file

        saved = json.loads((out / "training_state.json").read_text())
        s = {"model": {k: v.float() for k, v in load_file(out / "model.safetensors").items()}}
    else:
        return state
    done = saved["recipe"]
    same = {k: v for k, v in done.items() if k != "stages"} == {k: v for k, v in recipe.items() if k != "stages"}
    if not (same and done["stages"] == recipe["stages"][:len(done["stages"])]
            and (done == recipe or saved["step"] == total_steps(done))):
        raise ValueError(f"{work_file if work_file.exists() else out} holds a run of another recipe: give another "
                         "--work / --out, or delete it")
    saved["recipe"] = recipe  # a finished run goes on with the stages the recipe adds
    model.load_state_dict(s["model"], strict=False)  # the fp16 file has no lm_head copy to miss: it is untied
    if "opt" in s:
        opt.load_state_dict(s["opt"])
    return saved


def _save(model, opt, state: dict, work_file: Path, out: Path) -> None:
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "state": state}, work_file.with_suffix(".tmp"))
    work_file.with_suffix(".tmp").replace(work_file)
    out.mkdir(parents=True, exist_ok=True)
    half = build(state["recipe"])
    half.load_state_dict(model.state_dict())
    half.half().save_pretrained(out, safe_serialization=True)
    (out / "training_state.json").write_text(json.dumps(state, indent=1))


def train(out: Path, work: Path | None = None, recipe: dict | None = None, save_every: float = 300.0,
          threads: int = 2, device: str = "cpu", log_every: int = 250) -> dict:
    """Train (or resume) until the recipe's stages are done; returns the training state. SIGTERM saves and
    stops. ``recipe`` overrides fields of ``RECIPE``."""
    recipe = {**RECIPE, **(recipe or {})}
    work = Path(work or cache_dir("worlds", "othello", "work"))
    work.mkdir(parents=True, exist_ok=True)
    out = Path(out)
    torch.set_num_threads(threads)
    dev = torch.device(device)
    model = build(recipe).to(dev)
    opt = torch.optim.AdamW(model.parameters(), recipe["stages"][0]["lr"], betas=(0.9, 0.95),
                            weight_decay=recipe["weight_decay"])
    work_file = work / "state.pt"
    state = _restore(model, opt, work_file, out, recipe)
    choose = random_games(CHOOSE_GAMES, SPLIT_SEEDS["choose"])
    where = device_label(dev, threads)
    losses, last_save = [], time.time()
    with stop_on_sigterm() as stop:
        while state["step"] < total_steps(recipe) and not stop.is_set():
            start = time.time()
            model.train()
            for g in opt.param_groups:
                g["lr"] = learning_rate(recipe, state["step"])
            games = random_games(recipe["batch"], [recipe["seed"], state["step"]])
            value = loss(model, games, stage_at(recipe, state["step"])[0]["target"])
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
            losses.append(value.item())
            state["step"] += 1
            state["seconds"] += time.time() - start
            state["trained_on"][where] = state["trained_on"].get(where, 0) + 1
            if state["step"] % log_every == 0 or state["step"] == total_steps(recipe):
                model.eval()
                err = legal_top1_error(model, choose)[0]
                state["losses"].append([state["step"], float(np.mean(losses))])
                state["choose_error"].append([state["step"], err])
                print(f"step {state['step']}/{total_steps(recipe)} loss {np.mean(losses):.4f} choose top-1 illegal "
                      f"{err:.4%} ({state['seconds']:.0f} s)", flush=True)
                losses = []
            if time.time() - last_save > save_every:
                _save(model, opt, state, work_file, out)
                last_save = time.time()
        _save(model, opt, state, work_file, out)
        if stop.is_set():
            print("stopped (SIGTERM); saved", flush=True)
    return state


def main(argv: list[str] | None = None) -> None:
    command_line(train, __doc__, HERE / "checkpoint", argv)


if __name__ == "__main__":
    main()
