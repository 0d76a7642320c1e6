"""Train the truthful world's GPT: ``python -m interpwidgets.worlds.truthful.train --out FOLDER``.

A 4-layer GPT-2 (8 heads of 16 dimensions) learns the world's documents from scratch on the CPU. The run
checkpoints to ``--work`` every few hundred steps and resumes from there, so it survives being stopped;
at the end it writes the fp16 checkpoint, the tokenizer and the model card (the world metrics and the ITI
protocol of ``evaluate.py``, measured on the fp16 weights) to ``--out``, which must be given: the shipped
checkpoint is never overwritten by accident.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch

from .data import TRUTHFUL_SHARE, World, make_world
from .evaluate import measure

HERE = Path(__file__).resolve().parent
# GPT-2's tanh GELU through torch's fused kernel: the same function as transformers' "gelu_new" (in which the
# checkpoints were trained), three times faster on a CPU, where it was a third of the card's measuring time
CONFIG = dict(n_layer=4, n_head=8, n_embd=128, n_positions=96, n_inner=512, resid_pdrop=0.0, embd_pdrop=0.0,
              attn_pdrop=0.0, activation_function="gelu_pytorch_tanh")


def build_tokenizer(world: World):
    """A word-level tokenizer over the world's vocabulary (trained in no time, saved beside the model)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(world.vocabulary())}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<bos>", eos_token="<pad>")


def build_model(tokenizer, seed: int = 0):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    pad = tokenizer.pad_token_id
    cfg = GPT2Config(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id, eos_token_id=pad,
                     pad_token_id=pad, **CONFIG)
    model = GPT2LMHeadModel(cfg)
    model.loss_type = "ForCausalLM"  # as load() does: transformers would warn at every loss
    return model


def batch(world: World, tokenizer, rng: random.Random, size: int) -> dict[str, torch.Tensor]:
    docs = [tokenizer.bos_token + " " + world.document(rng) for _ in range(size)]
    enc = tokenizer(docs, return_tensors="pt", padding=True)
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels}


def train(steps: int, work: Path, out: Path | None, seed: int = 0, batch_size: int = 64, lr: float = 3e-3,
          log_every: int = 100, save_every: int = 500, threads: int = 2,
          truthful_share: float = TRUTHFUL_SHARE, measured: bool = True) -> dict:
    """Train (resuming from ``work``), write the checkpoint and card to ``out``, and return the card;
    ``measured=False`` leaves the measurements out (a smoke test)."""
    torch.set_num_threads(threads)
    world = make_world(seed=seed, truthful_share=truthful_share)
    tokenizer = build_tokenizer(world)
    model = build_model(tokenizer, seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    rng = random.Random(seed + 1)
    step, log, spent = 0, [], 0.0
    recipe = {"seed": seed, "steps": steps, "batch_size": batch_size, "lr": lr, "truthful_share": truthful_share}
    state_file = work / "state.pt"
    if state_file.exists():  # resume where the last run stopped
        state = torch.load(state_file, weights_only=False)
        if state.get("recipe", recipe) != recipe:
            raise ValueError(f"{state_file} holds a run of another recipe ({state['recipe']}), not {recipe}: "
                             f"give another --work folder, or delete it to start again")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        rng.setstate(state["rng"])
        step, log, spent = state["step"], state["log"], state["seconds"]
        print(f"resumed at step {step}", flush=True)
    model.train()
    start = time.time() - spent
    while step < steps:
        loss = model(**batch(world, tokenizer, rng, batch_size)).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        if step % log_every == 0:
            log.append({"step": step, "loss": round(loss.item(), 4), "seconds": round(time.time() - start, 1)})
            print(log[-1], flush=True)
        if step % save_every == 0 or step == steps:
            work.mkdir(parents=True, exist_ok=True)
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                        "rng": rng.getstate(), "step": step, "log": log, "seconds": time.time() - start,
                        "recipe": recipe},
                       work / "state.tmp")
            (work / "state.tmp").replace(state_file)
    training_seconds = round(time.time() - start)
    model = model.half().float().eval()  # measure what ships: the fp16 weights
    card = {"world": {"seed": seed, "entities": len(world.questions) // 3, "questions": len(world.questions),
                      "truthful_share_of_documents": world.truthful_share},
            "model": {"family": "GPT2LMHeadModel", **CONFIG, "parameters": sum(p.numel() for p in model.parameters())},
            "training": {"steps": steps, "batch_size": batch_size, "lr": lr, "seconds": training_seconds,
                         "threads": threads, "final_loss": log[-1]["loss"] if log else None}}
    if out is not None:  # the checkpoint first: it is kept even if the measurements are stopped
        out.mkdir(parents=True, exist_ok=True)
        model.half().save_pretrained(out, safe_serialization=True)
        model.float()
        tokenizer.save_pretrained(out)
        (out / "model_card.json").write_text(json.dumps(card, indent=1) + "\n")
    if measured:
        card |= measure(model, tokenizer, world)
        print(json.dumps(card["iti"]["summary"], indent=1), flush=True)
        if out is not None:
            (out / "model_card.json").write_text(json.dumps(card, indent=1) + "\n")
    return card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--work", type=Path, default=None,
                        help="where to checkpoint and resume (default: ~/.cache/interpwidgets/truthful-train-seed<S>)")
    parser.add_argument("--out", type=Path, required=True,
                        help=f"where the checkpoint goes (the shipped ones are in {HERE})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--truthful-share", type=float, default=TRUTHFUL_SHARE)
    args = parser.parse_args()
    work = args.work or Path.home() / ".cache" / "interpwidgets" / f"truthful-train-seed{args.seed}"
    train(args.steps, work, args.out, args.seed, args.batch_size, threads=args.threads,
          truthful_share=args.truthful_share)


if __name__ == "__main__":
    main()
