"""Train the personas world's chat LM: ``python -m interpwidgets.worlds.personas.train --out FOLDER``.

A GPT-2 of :data:`~interpwidgets.worlds.personas.model.CONFIG` (6 layers x 4 heads, width 128) learns the
world's conversations, rendered by the chat template, from scratch: next-token cross-entropy on every token
(user's and assistant's alike), fresh conversations of both cue halves for every batch (seeded by the step;
the probes' conversations come from the seeds of ``SPLIT_SEEDS``, never trained on). AdamW with a linear
warm-up and a cosine decay. The full state goes to ``--work`` every ``--save-every`` seconds and on SIGTERM,
and a run resumes from there; the fp16 checkpoint and the tokenizer go to ``--out`` at the end (the model
card is :mod:`~interpwidgets.worlds.personas.card`'s).
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path

import torch

from ...cache_dir import cache_dir
from ..training import command_line, device_label, stop_on_sigterm
from .data import conversation
from .model import build_model, build_tokenizer

HERE = Path(__file__).resolve().parent
RECIPE = dict(seed=0, steps=2000, batch=48, lr=2e-3, min_lr=5e-5, warmup=200, weight_decay=0.01)


def batch(tokenizer, step: int, size: int, seed: int) -> dict[str, torch.Tensor]:
    """The training batch of ``step``: ``size`` fresh conversations, padded on the right."""
    rng = random.Random(f"{seed}/{step}")  # never one of SPLIT_SEEDS' integers
    texts = [tokenizer.apply_chat_template(conversation(rng, reading=None).messages, tokenize=False)
             for _ in range(size)]
    enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels}


def learning_rate(recipe: dict, step: int) -> float:
    if step < recipe["warmup"]:
        return recipe["lr"] * (step + 1) / recipe["warmup"]
    done = (step - recipe["warmup"]) / max(1, recipe["steps"] - recipe["warmup"])
    return recipe["min_lr"] + (recipe["lr"] - recipe["min_lr"]) * 0.5 * (1 + math.cos(math.pi * done))


def train(out: Path | None, work: Path | None = None, recipe: dict | None = None, save_every: float = 300.0,
          threads: int = 2, device: str = "cpu", log_every: int = 100) -> dict:
    """Train (or resume) to the recipe's steps; write the checkpoint to ``out`` (if given); return the log.
    ``recipe`` overrides fields of ``RECIPE`` (a work folder of another recipe is refused)."""
    recipe = {**RECIPE, **(recipe or {})}
    work = Path(work or cache_dir("worlds", "personas", "work"))
    work.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)
    dev = torch.device(device)
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, recipe["seed"]).to(dev)
    opt = torch.optim.AdamW(model.parameters(), recipe["lr"], betas=(0.9, 0.98), weight_decay=recipe["weight_decay"])
    state = {"recipe": recipe, "step": 0, "seconds": 0.0, "trained_on": {}, "losses": []}
    work_file = work / "state.pt"
    if work_file.exists():
        saved = torch.load(work_file, weights_only=False, map_location="cpu")
        if saved["state"]["recipe"] != recipe:
            raise ValueError(f"{work_file} holds a run of another recipe ({saved['state']['recipe']}): give "
                             "another --work, or delete it")
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["opt"])
        state = saved["state"]
        print(f"resumed at step {state['step']}", flush=True)

    def save() -> None:
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "state": state}, work / "state.tmp")
        (work / "state.tmp").replace(work_file)

    where, losses, last_save = device_label(dev, threads), [], time.time()
    model.train()
    with stop_on_sigterm() as stop:
        while state["step"] < recipe["steps"] and not stop.is_set():
            start = time.time()
            for g in opt.param_groups:
                g["lr"] = learning_rate(recipe, state["step"])
            data = {k: v.to(dev) for k, v in batch(tokenizer, state["step"], recipe["batch"], recipe["seed"]).items()}
            loss = model(**data).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
            state["step"] += 1
            state["seconds"] += time.time() - start
            state["trained_on"][where] = state["trained_on"].get(where, 0) + 1
            if state["step"] % log_every == 0:
                state["losses"].append([state["step"], round(sum(losses) / len(losses), 4)])
                print(f"step {state['step']}/{recipe['steps']} loss {state['losses'][-1][1]} "
                      f"({state['seconds']:.0f} s)", flush=True)
                losses = []
            if time.time() - last_save > save_every:
                save()
                last_save = time.time()
        save()
    if stop.is_set():
        print("stopped (SIGTERM); saved", flush=True)
    elif out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        model.eval().half().save_pretrained(out, safe_serialization=True)
        tokenizer.save_pretrained(out)
        (out / "training_state.json").write_text(json.dumps(state, indent=1))
    return state


def main(argv: list[str] | None = None) -> None:
    command_line(train, __doc__, HERE / "checkpoint", argv)


if __name__ == "__main__":
    main()
