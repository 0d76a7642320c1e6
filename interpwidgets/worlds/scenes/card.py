"""The scenes world's model card: what the shipped checkpoint draws and what its activations hold, measured
on fresh scenes and prompts (never the training ones), with fit / choose / test splits and 95% bootstrap
intervals over images.

``python -m interpwidgets.worlds.scenes.card`` writes ``checkpoint/model_card.json``; ``--quick`` measures
a small version (for a look at a checkpoint in training; not a card).

1. **The estimator** (the labeller, our MiDaS and TRACER) on rendered scenes and on the VAE's reconstructions
   of them: disparity RMSE, mask Dice, the salient object's attributes.
2. **What the pipeline draws** from the prompts of fresh scenes: prompt agreement (the estimator's reading of
   the generated image's colour, shape, column and distance against the prompt's; chance beside it), and a
   Fréchet distance between the estimator's pooled features of generated and rendered images, with its
   floors (rendered against other rendered scenes; the VAE's reconstructions) and a ceiling (a random-init
   UNet's images).
3. **The probes**: every layer x step, on generated images labelled by the estimator, split fit / choose /
   test; the layer and step chosen on the choose split; test Dice and RMSE with intervals, against the
   random-init control (:func:`interpwidgets.scenes.study.control_run`, teacher-forced), and the chosen
   layer's test score at every step.
4. **The edit**: the object moved towards the image's centre (or away from it, for one in the middle)
   through the mask probes in the first denoising steps; the estimator's mask of the new image compared with
   the moved mask and with the old one. How many steps, and at which layers, is chosen on the choose split's
   images; the test images' edits are reported. The same again on images drawn from the empty prompt, which
   names no place (:func:`unprompted_edit`): with a prompt that names one, the edit does not move the object.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...stats import interval
from . import CHECKPOINT, estimate, estimators, load
from .data import COLORS, COLUMNS, DISTANCES, SHAPES, dataset

__all__ = ["CARD", "SEEDS", "STEPS", "GUIDANCE", "frechet", "estimator_metrics", "generation_metrics",
           "probe_metrics", "EDIT_SETTINGS", "edit_row", "edit_choice", "edit_metrics", "unprompted_study",
           "unprompted_edit", "card"]

CARD = CHECKPOINT / "model_card.json"
SEEDS = {"estimator": 12345, "prompts": 54321, "reference": 777, "split": 0, "control": 1, "unprompted": 4242}
STEPS, GUIDANCE = 15, 7.5  # the paper's sampler settings (LMS, 15 steps, guidance 7.5)
# the edit's settings tried on the choose split: the first 3, 5 (the paper's code) or 8 of the 15 steps, at the
# decoder's self-attention layers (the paper's code) or at all of them
EDIT_SETTINGS = [(steps, layers) for steps in (3, 5, 8) for layers in ("decoder", "all")]
CHANCE = {"color": 1 / len(COLORS), "shape": 1 / len(SHAPES), "column": 1 / len(COLUMNS),
          "distance": 1 / len(DISTANCES)}


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """The Fréchet distance between Gaussians fitted to two feature sets ([n, d] each), as FID computes it."""
    from scipy import linalg

    mu = a.mean(0) - b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(ca @ cb)
    return float(mu @ mu + np.trace(ca + cb - 2 * np.real(root)))


def _rmse(a, b) -> np.ndarray:
    return np.sqrt(((np.asarray(a, float) - np.asarray(b, float)) ** 2).mean((1, 2)))


def _reconstruct(pipe, images: np.ndarray, batch: int = 64) -> np.ndarray:
    """Images through the VAE and back (its mean latent), in [0, 1]."""
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = torch.from_numpy(images[i:i + batch].astype(np.float32) / 255).permute(0, 3, 1, 2) * 2 - 1
            z = pipe.vae.encode(x.to(pipe.vae.dtype)).latent_dist.mean
            y = pipe.vae.decode(z).sample.float().clamp(-1, 1)
            out.append(((y + 1) / 2).permute(0, 2, 3, 1).numpy())
    return np.concatenate(out)


def estimator_metrics(pipe, estimator, n: int = 500) -> dict:
    """The labeller on ``n`` fresh rendered scenes and on the VAE's reconstructions of them."""
    from ...scenes.method import dice

    d = dataset(n, seed=SEEDS["estimator"])
    again = _reconstruct(pipe, d["images"])
    rendered = (d["images"] / 255).reshape(n, -1, 3)
    out = {"scenes": n, "vae_pixel_rmse": interval(_rmse(again.reshape(n, -1, 3), rendered))}
    for name, images in (("rendered", d["images"]), ("vae_reconstructed", again)):
        e = estimate(estimator, images)
        out[name] = {"disparity_rmse": interval(_rmse(e["disparity"], d["disparity"])),
                     "mask_dice": interval(dice(e["mask"], d["mask"])),
                     **{f"{k}_accuracy": interval(e[k] == d[k]) for k in CHANCE}}
    return out


def generation_metrics(pipe, estimator, n: int = 200) -> dict:
    """Prompt agreement and the Fréchet distance of ``n`` generated images (prompts of fresh scenes)."""
    from ...scenes.method import run
    from ...scenes.study import random_unet

    d, ref = dataset(n, seed=SEEDS["prompts"]), dataset(n, seed=SEEDS["reference"])
    generated = run(pipe, d["prompts"], steps=STEPS, guidance=GUIDANCE, seed=SEEDS["prompts"]).images
    e = estimate(estimator, generated)
    feats = {"rendered": estimate(estimator, ref["images"])["features"],
             "rendered_same_prompts": estimate(estimator, d["images"])["features"],
             "vae_reconstructed": estimate(estimator, _reconstruct(pipe, d["images"]))["features"],
             "generated": e["features"]}
    noise = run(random_unet(pipe, SEEDS["control"]), d["prompts"], steps=STEPS, guidance=GUIDANCE,
                seed=SEEDS["prompts"]).images
    feats["random_unet"] = estimate(estimator, noise)["features"]
    base = feats["rendered"]
    return {"images": n, "steps": STEPS, "guidance": GUIDANCE,
            "prompt_agreement": {k: interval(e[k] == d[k]) for k in CHANCE},
            "chance": {k: round(v, 4) for k, v in CHANCE.items()},
            "all_four_agree": interval(np.all([e[k] == d[k] for k in CHANCE], axis=0)),
            # per image (image i from seed prompts + i, whatever the batch): what a test draws again
            "agree_per_image": {k: (e[k] == d[k]).astype(int).tolist() for k in CHANCE},
            "frechet_to_rendered": {k: round(frechet(v, base), 3) for k, v in feats.items() if k != "rendered"},
            "frechet_note": "estimator's pooled features (128-d) against other rendered scenes: the rendered "
                            "scenes of the same prompts and the VAE's reconstructions are the floors, a "
                            "random-init UNet's images the ceiling"}


def probe_metrics(pipe, estimator, n: int = 120) -> tuple[dict, object]:
    """The probe grid of the trained UNet and of the random-init control, on ``n`` generated images."""
    from ...scenes.method import probe_grid
    from ...scenes.study import control_run, study
    from ...transport import json_grid

    d = dataset(n, seed=SEEDS["prompts"] + 1)
    s = study(pipe, d["prompts"], **estimators(estimator), steps=STEPS, guidance=GUIDANCE, seed=SEEDS["prompts"] + 1,
              split_seed=SEEDS["split"])
    control = probe_grid(control_run(pipe, s.run, SEEDS["control"]), s.depth, s.mask, s.split)
    out = {"images": {k: int(len(v)) for k, v in s.split.items()}}
    for name, grid in (("trained", s.grid), ("random_init", control)):
        summary = grid.summary()
        layer, _ = grid.best("dice")
        i = grid.layers.index(layer)
        summary["chosen_layer_test_by_step"] = {
            "dice": json_grid(np.nanmean(grid.test["dice"][:, i], 0)),
            "rmse": json_grid(grid.test["rmse"][:, grid.layers.index(grid.best("rmse")[0])].mean(0))}
        out[name] = summary
    gap = {}
    for metric, sign in (("dice", 1), ("rmse", -1)):  # per test image, trained minus control, each at its choice
        a = s.grid.test[metric][:, s.grid.layers.index(s.grid.best(metric)[0]), s.grid.best(metric)[1]]
        b = control.test[metric][:, control.layers.index(control.best(metric)[0]), control.best(metric)[1]]
        gap[metric] = interval(sign * (a - b))
    out["trained_better_by"] = gap
    return out, s


def edit_row(pipe, estimator, s, index: int, shift: int = 6, steps: int = 5, layers: str = "decoder") -> dict:
    """Image ``index`` of the study ``s`` generated again with its object moved ``shift`` pixels towards the
    middle (or out of it, for one already there: :func:`~interpwidgets.scenes.study.towards_middle`),
    edited in the first ``steps`` denoising steps at ``layers`` (``"decoder"`` or ``"all"``:
    :func:`~interpwidgets.scenes.study.edit_scene`), and the edit's scores."""
    from ...scenes.study import edit_scene, towards_middle
    from ...transport import json_grid

    dx = towards_middle(s.mask[index], shift)
    e = edit_scene(pipe, s, index, dx=dx, steps=range(steps), layers=layers, **estimators(estimator))
    return {"image": index, "dx": dx, **{k: json_grid(v) for k, v in e.scores.items()}}


def _with_object(s, part: str, max_images: int) -> list[int]:
    return [int(i) for i in s.split[part] if s.mask[i].any()][:max_images]


def edit_choice(pipe, estimator, s, shift: int = 6, max_images: int = 16) -> dict:
    """The edit's setting (how many early steps; the decoder's layers or all) chosen on the choose split:
    each of :data:`EDIT_SETTINGS` moves the objects of up to ``max_images`` choose images, and the one whose
    edited objects overlap the moved mask most beyond their old place (the mean of Dice with the moved mask
    minus Dice with the old one) is chosen. The test images are never edited here."""
    images = _with_object(s, "choose", max_images)
    if not images:
        raise ValueError("no choose image holds an object: there is nothing to move")
    settings = []
    for steps, layers in EDIT_SETTINGS:
        rows = [edit_row(pipe, estimator, s, i, shift, steps, layers) for i in images]
        new, old = np.array([r["dice_target"] for r in rows]), np.array([r["dice_old"] for r in rows])
        settings.append({"steps": steps, "layers": layers, "moved_minus_old": round(float(np.mean(new - old)), 4),
                         "dice_with_moved_mask": round(float(new.mean()), 4),
                         "dice_with_old_mask": round(float(old.mean()), 4),
                         "share_closer_to_moved": round(float(np.mean(new > old)), 4),
                         "rows": [{k: r[k] for k in ("image", "dx", "dice_target", "dice_old")} for r in rows]})
    best = max(settings, key=lambda x: x["moved_minus_old"])
    return {"images": len(images), "criterion": "mean over choose images of (Dice with the moved mask - Dice "
                                                "with the old place)",
            "settings": settings, "chosen": {"steps": best["steps"], "layers": best["layers"]}}


def edit_metrics(pipe, estimator, s, shift: int = 6, max_images: int = 24, steps: int = 5,
                 layers: str = "decoder") -> dict:
    """The translation edit (:func:`edit_row`) on up to ``max_images`` test images of the study ``s`` (those
    with an object), at one setting (chosen by :func:`edit_choice`)."""
    rows = [edit_row(pipe, estimator, s, i, shift, steps, layers) for i in _with_object(s, "test", max_images)]
    if not rows:
        raise ValueError("no test image holds an object: there is nothing to move")
    new, old = np.array([r["dice_target"] for r in rows]), np.array([r["dice_old"] for r in rows])
    base = np.array([r["dice_target_unedited"] for r in rows])
    return {"images": len(rows), "shift_px": shift, "steps_edited": steps, "layers_edited": layers,
            "dice_with_moved_mask": interval(new), "dice_with_old_mask": interval(old),
            "unedited_dice_with_moved_mask": interval(base), "share_closer_to_moved": interval(new > old),
            "moved_minus_old": interval(new - old), "rows": rows}


def unprompted_study(pipe, estimator, n: int = 80):
    """A study of ``n`` images drawn from the empty prompt (the model was trained with a tenth of its prompts
    dropped, so it draws a scene from it): a prompt that names no place, as Stable Diffusion's prompts in the
    paper seldom do, for the edit."""
    from ...scenes.study import study

    return study(pipe, [""] * n, **estimators(estimator), steps=STEPS, guidance=GUIDANCE,
                 seed=SEEDS["unprompted"], split_seed=SEEDS["split"], progress=False)


def unprompted_edit(pipe, estimator, n: int = 80, choose: int = 10, edits: int = 24) -> dict:
    """The edit (:func:`edit_choice` on the choose split, then :func:`edit_metrics` on the test split) on the
    images of :func:`unprompted_study`."""
    s = unprompted_study(pipe, estimator, n)
    choice = edit_choice(pipe, estimator, s, max_images=choose)
    probes = s.grid.summary()
    return {"prompt": "", "images": {k: int(len(v)) for k, v in s.split.items()},
            "probes": {m: probes[m]["chosen"] for m in ("dice", "rmse")}, "edit_choice": choice,
            "edit": edit_metrics(pipe, estimator, s, max_images=edits, **choice["chosen"])}


def card(path: Path = CHECKPOINT, quick: bool = False) -> dict:
    """Every measurement of the module's docstring on the checkpoint at ``path``."""
    pipe, estimator = load(path)
    state = json.loads((Path(path) / "training_state.json").read_text())
    sizes = (dict(n=100, gen=48, probes=40, choose=3, edits=6, unprompted=40, unprompted_choose=3) if quick else
             dict(n=500, gen=200, probes=120, choose=16, edits=24, unprompted=80, unprompted_choose=10))
    probes, s = probe_metrics(pipe, estimator, sizes["probes"])
    choice = edit_choice(pipe, estimator, s, max_images=sizes["choose"])
    return {"world": "interpwidgets.worlds.scenes", "quick": quick,
            "training": {"steps": state["steps"], "seconds": {k: round(v) for k, v in state["seconds"].items()},
                         "trained_on": state["trained_on"], "recipe": state["recipe"]},
            "estimator": estimator_metrics(pipe, estimator, sizes["n"]),
            "generation": generation_metrics(pipe, estimator, sizes["gen"]),
            "probes": probes, "edit_choice": choice,
            "edit": edit_metrics(pipe, estimator, s, max_images=sizes["edits"], **choice["chosen"]),
            "unprompted_edit": unprompted_edit(pipe, estimator, sizes["unprompted"], sizes["unprompted_choose"],
                                               sizes["edits"])}


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", type=Path, default=CHECKPOINT)
    p.add_argument("--out", type=Path, default=None, help=f"default: {CARD.name} in the checkpoint folder")
    p.add_argument("--quick", action="store_true", help="a small version, printed, not written as the card")
    args = p.parse_args()
    result = card(args.checkpoint, args.quick)
    text = json.dumps(result, indent=1, allow_nan=False)  # (JSON has no NaN: scores without a value are null)
    if args.quick and args.out is None:
        print(text)
        return
    (args.out or args.checkpoint / CARD.name).write_text(text + "\n")


if __name__ == "__main__":
    main()
