"""Train the shapes world's CNN: ``python -m interpwidgets.worlds.shapes.train --out FOLDER``.

The CNN learns the shape's class from ``RECIPE["images"]`` images of the fit split (AdamW, a cosine
schedule, a fixed seed; about 6 minutes on 2 CPU cores, the twin about 24). ``--shuffle-labels`` trains
the same network, from the same seed, on the first ``RECIPE["random_images"]`` of those images with their
labels shuffled, until it has memorised them: the twin of the data-randomization sanity check (Adebayo
et al. 2018), a model that fits its training set and has learned nothing about shapes.

The full state (fp32 weights, the optimizer, the step) goes to ``--work`` every ``--save-every`` seconds and
on SIGTERM; the fp16 ``model.safetensors`` and ``training_state.json`` go to ``--out`` at the same time. A
run resumes from ``--work``, else from ``--out`` (fp16 weights, a fresh optimizer).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...cache_dir import cache_dir
from ...saliency.classifier import Classifier
from ..training import device_label, stop_on_sigterm
from . import PREPROCESS
from .data import dataset
from .models import ShapesCNN

HERE = Path(__file__).resolve().parent
RECIPE = dict(seed=0, images=20000, batch=64, steps=2000, lr=1e-3, weight_decay=1e-4, width=12,
              random_images=2000, random_steps=4000, random_lr=1e-3)
CHOOSE = 1000  # choose-split images for the accuracy printed while training (nothing is picked on it)


def _data(work: Path, recipe: dict, shuffle_labels: bool) -> tuple[np.ndarray, np.ndarray]:
    """The training images and labels (rendered once into ``work``, about 20 s); shuffled labels for the
    twin, over its smaller set."""
    file = work / f"fit_{recipe['images']}.npz"
    if not file.exists():
        d = dataset(recipe["images"], "fit")
        np.savez(file, images=d["images"], labels=d["labels"])
    with np.load(file) as f:
        images, labels = f["images"], f["labels"]
    if shuffle_labels:
        n = recipe["random_images"]
        images, labels = images[:n], np.random.default_rng(recipe["seed"] + 1).permutation(labels[:n])
    return images, labels


def accuracy(clf: Classifier, images: np.ndarray, labels: np.ndarray) -> float:
    clf.model.eval()
    return float((clf.predict(images, batch_size=500).argmax(-1) == labels).mean())


def _restore(model, opt, work_file: Path, out: Path, recipe: dict, shuffle_labels: bool) -> dict:
    state = {"recipe": recipe, "shuffle_labels": shuffle_labels, "step": 0, "seconds": 0.0, "trained_on": {},
             "losses": [], "choose_accuracy": []}
    if work_file.exists():
        s = torch.load(work_file, weights_only=False, map_location="cpu")
        saved = s["state"]
    elif (out / "training_state.json").exists():
        from safetensors.torch import load_file

        saved = json.loads((out / "training_state.json").read_text())
        s = {"model": {k: v.float() for k, v in load_file(out / "model.safetensors").items()}}
    else:
        return state
    if saved["recipe"] != recipe or saved["shuffle_labels"] != shuffle_labels:
        raise ValueError(f"{work_file if work_file.exists() else out} holds a run of another recipe: give another "
                         "--work / --out, or delete it")
    model.load_state_dict(s["model"])
    if "opt" in s:
        opt.load_state_dict(s["opt"])
    return saved


def _save(model, opt, state: dict, work_file: Path, out: Path) -> None:
    from safetensors.torch import save_file

    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "state": state}, work_file.with_suffix(".tmp"))
    work_file.with_suffix(".tmp").replace(work_file)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().half().contiguous() for k, v in model.state_dict().items()},
              out / "model.safetensors")
    (out / "training_state.json").write_text(json.dumps(state, indent=1))


def train(out: Path, work: Path | None = None, shuffle_labels: bool = False, recipe: dict | None = None,
          save_every: float = 120.0, threads: int = 2, device: str = "cpu", log_every: int = 250) -> dict:
    """Train (or resume) until the recipe's steps are done; returns the training state. SIGTERM saves and
    stops."""
    recipe = {**RECIPE, **(recipe or {})}
    work = Path(work or cache_dir("worlds", "shapes", "work"))
    work.mkdir(parents=True, exist_ok=True)
    out = Path(out)
    torch.set_num_threads(threads)
    torch.manual_seed(recipe["seed"])
    dev = torch.device(device)
    model = ShapesCNN(recipe["width"]).to(dev, memory_format=torch.channels_last)
    lr = recipe["random_lr" if shuffle_labels else "lr"]
    opt = torch.optim.AdamW(model.parameters(), lr, weight_decay=0.0 if shuffle_labels else recipe["weight_decay"])
    clf = Classifier(model.eval(), PREPROCESS)  # its pixels() is the model's input
    work_file = work / f"state_{'random_labels' if shuffle_labels else 'shapes'}.pt"
    state = _restore(model, opt, work_file, out, recipe, shuffle_labels)
    images, labels = _data(work, recipe, shuffle_labels)
    choose = dataset(CHOOSE, "choose")
    steps = recipe["random_steps" if shuffle_labels else "steps"]
    where = device_label(dev, threads)
    rng = np.random.default_rng([recipe["seed"], state["step"]])  # a resumed run draws new batches
    losses, last_save = [], time.time()
    with stop_on_sigterm() as stop:
        while state["step"] < steps and not stop.is_set():
            start = time.time()
            model.train()
            for g in opt.param_groups:
                g["lr"] = lr * 0.5 * (1 + np.cos(np.pi * state["step"] / steps))
            idx = rng.integers(0, len(images), recipe["batch"])
            x = clf.pixels(images[idx]).contiguous(memory_format=torch.channels_last)
            y = torch.from_numpy(labels[idx]).to(dev)
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            state["step"] += 1
            state["seconds"] += time.time() - start
            state["trained_on"][where] = state["trained_on"].get(where, 0) + 1
            if state["step"] % log_every == 0 or state["step"] == steps:
                acc = accuracy(clf, choose["images"], choose["labels"])
                state["losses"].append([state["step"], float(np.mean(losses))])
                state["choose_accuracy"].append([state["step"], acc])
                print(f"step {state['step']}/{steps} loss {np.mean(losses):.4f} choose accuracy {acc:.3f} "
                      f"({state['seconds']:.0f} s)", flush=True)
                losses = []
            if time.time() - last_save > save_every:
                _save(model, opt, state, work_file, out)
                last_save = time.time()
        if shuffle_labels:
            state["fit_accuracy"] = accuracy(clf, images, labels)  # memorised?
        _save(model, opt, state, work_file, out)
        if stop.is_set():
            print("stopped (SIGTERM); saved", flush=True)
    return state


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True, help="where the fp16 checkpoint goes (the shipped ones: "
                   f"{HERE / 'checkpoint'} and {HERE / 'checkpoint_random_labels'})")
    p.add_argument("--work", type=Path, default=None)
    p.add_argument("--shuffle-labels", action="store_true", help="the random-label twin")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="cpu, or cuda where the session has a GPU")
    p.add_argument("--save-every", type=float, default=120.0, help="seconds between checkpoints")
    args = p.parse_args(argv)
    train(args.out, args.work, args.shuffle_labels, save_every=args.save_every, threads=args.threads,
          device=args.device)


if __name__ == "__main__":
    main()
