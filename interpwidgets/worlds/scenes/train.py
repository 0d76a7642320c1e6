"""Train the scenes world: ``python -m interpwidgets.worlds.scenes.train --out FOLDER``.

Three phases, each resumed where it stopped:

1. ``vae``: the ``AutoencoderKL`` learns to code rendered scenes (L1 + L2 + a small KL term);
2. ``estimator``: the depth / mask / attribute network learns from the renderer's exact labels, on rendered
   images and on the VAE's reconstructions of them (so that it reads generated images, which come out of the
   same decoder);
3. ``unet``: the UNet and the text encoder learn together to denoise the VAE's latents of rendered scenes
   given their prompts (epsilon prediction on Stable Diffusion's schedule; the prompt dropped one time in ten,
   for classifier-free guidance); an exponential moving average of the weights is what ships.

``--device cuda`` trains on a GPU where a session has one; ``training_state.json`` counts each phase's steps
per device (``trained_on``), and the model card says where the weights were trained.

The full training state (fp32 weights, optimizers, the averages) goes to ``--work`` every few minutes; the
shippable fp16 pipeline and estimator, with ``training_state.json``, go to ``--out`` at the same time. A
later run resumes from ``--work`` if it is there, else from ``--out`` (fp16 weights, fresh optimizers and a
short warm-up: what survives a session's end is what was committed).
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
from ..training import device_label, stop_on_sigterm
from .data import dataset
from .models import ATTRIBUTES, Estimator, assemble, build_text_encoder, build_tokenizer, build_unet, build_vae

HERE = Path(__file__).resolve().parent
RECIPE = dict(seed=0, scenes=30000, batch=64, vae_steps=1500, vae_lr=1e-3, kl_weight=1e-6,
              estimator_steps=1500, estimator_lr=2e-3, unet_lr=3e-4, warmup=300, ema=0.999, ema_warmup=10,
              drop_prompt=0.1)


def ema_decay(since: int, recipe: dict) -> float:
    """The average's decay ``since`` steps after a (re)start: ``(1 + t) / (ema_warmup + t)``, capped at
    ``ema`` (the warm-up diffusers' EMA uses). Without it, an average of 0.999 kept 56% of the random
    initial weights after 580 steps, and the shipped checkpoint was that average."""
    return min(recipe["ema"], (1 + since) / (recipe["ema_warmup"] + since))


def _same_recipe(stored: dict, recipe: dict) -> bool:
    """Whether a saved run is of ``recipe``. Runs saved before ``ema_warmup`` existed resume under it: it
    changes only how the weights' average starts after a (re)start, and that average is reset at every
    restart from the fp16 weights anyway."""
    return {**stored, "ema_warmup": stored.get("ema_warmup", recipe["ema_warmup"])} == recipe


def _data(work: Path, recipe: dict) -> dict:
    """The rendered training scenes, cached in ``work`` (about 90 s to render 30 000)."""
    file = work / f"scenes_{recipe['seed']}_{recipe['scenes']}.npz"
    if not file.exists():
        d = dataset(recipe["scenes"], seed=recipe["seed"])
        np.savez(file, **{k: np.asarray(v) for k, v in d.items()})
    with np.load(file) as f:
        return {k: f[k] for k in f.files}


def _images(d: dict, idx) -> torch.Tensor:
    return torch.from_numpy(d["images"][idx]).permute(0, 3, 1, 2).float() / 255


def _tokenizer(work: Path, out: Path):
    """The run's tokenizer: the checkpoint's own when there is one (the text encoder learned its ids; BPE
    training breaks ties in no fixed order, so a tokenizer built again may number the words otherwise),
    else a new one."""
    from transformers import CLIPTokenizer

    from .models import MAX_TOKENS

    saved = out / "pipeline" / "tokenizer"
    if (saved / "tokenizer_config.json").exists():
        return CLIPTokenizer.from_pretrained(saved, model_max_length=MAX_TOKENS)
    return build_tokenizer(work / "tokenizer")


class _Run:
    """The networks, their optimizers and the progress record; saved and restored as one."""

    def __init__(self, work: Path, out: Path, recipe: dict, device: torch.device | None = None):
        device = device or torch.device("cpu")
        self.work, self.out, self.recipe, self.device = work, out, recipe, device
        torch.manual_seed(recipe["seed"])
        self.tokenizer = _tokenizer(work, out)
        self.vae, self.text, self.unet = build_vae(), build_text_encoder(self.tokenizer), build_unet()
        self.estimator = Estimator()
        self.ema = {"unet": build_unet(), "text": build_text_encoder(self.tokenizer)}
        for name in self.ema:
            self.ema[name].load_state_dict(getattr(self, name).state_dict())
            self.ema[name].requires_grad_(False)
        self.opt = {"vae": torch.optim.AdamW(self.vae.parameters(), recipe["vae_lr"]),
                    "estimator": torch.optim.AdamW(self.estimator.parameters(), recipe["estimator_lr"]),
                    "unet": torch.optim.AdamW([*self.unet.parameters(), *self.text.parameters()],
                                              recipe["unet_lr"], weight_decay=0.01)}
        self.state = {"recipe": recipe, "steps": {"vae": 0, "estimator": 0, "unet": 0},
                      "seconds": {"vae": 0.0, "estimator": 0.0, "unet": 0.0}, "scaling_factor": None,
                      "warm_restart_at": 0, "losses": {"vae": [], "estimator": [], "unet": []}}
        self._restore()
        # runs saved before the count existed were trained on 2 CPU threads (the sessions' machines)
        self.state.setdefault("trained_on", {k: {"CPU (2 torch threads)": v} if v else {}
                                             for k, v in self.state["steps"].items()})
        for model in (self.vae, self.text, self.unet, self.estimator, *self.ema.values()):
            model.to(device)
        for opt in self.opt.values():  # optimizer moments restored on the CPU follow their parameters
            for st in opt.state.values():
                for k, v in st.items():
                    if torch.is_tensor(v) and v.dim():
                        st[k] = v.to(device)

    def _restore(self) -> None:
        full = self.work / "state.pt"
        if full.exists():
            s = torch.load(full, weights_only=False, map_location="cpu")
            if not _same_recipe(s["state"]["recipe"], self.recipe):
                raise ValueError(f"{full} holds a run of another recipe; give another --work or delete it")
            for name in ("vae", "text", "unet", "estimator"):
                getattr(self, name).load_state_dict(s[name])
            for name in self.ema:
                self.ema[name].load_state_dict(s["ema_" + name])
            for name, opt in self.opt.items():
                opt.load_state_dict(s["opt_" + name])
            self.state = {**s["state"], "recipe": self.recipe}
        elif (self.out / "training_state.json").exists():  # fp16 weights only: fresh optimizers, a warm-up
            from diffusers import StableDiffusionPipeline
            from safetensors.torch import load_file

            self.state = json.loads((self.out / "training_state.json").read_text())
            if not _same_recipe(self.state["recipe"], self.recipe):
                raise ValueError(f"{self.out} holds a run of another recipe")
            self.state["recipe"] = self.recipe
            pipe = StableDiffusionPipeline.from_pretrained(self.out / "pipeline", dtype=torch.float32)
            self.vae.load_state_dict(pipe.vae.state_dict())
            for name, model in (("unet", pipe.unet), ("text", pipe.text_encoder)):
                getattr(self, name).load_state_dict(model.state_dict())
                self.ema[name].load_state_dict(model.state_dict())
            est = self.out / "estimator.safetensors"
            if est.exists():
                self.estimator.load_state_dict({k: v.float() for k, v in load_file(est).items()})
            self.state["warm_restart_at"] = self.state["steps"]["unet"]

    def save(self) -> None:
        from safetensors.torch import save_file

        torch.save({**{n: getattr(self, n).state_dict() for n in ("vae", "text", "unet", "estimator")},
                    **{"ema_" + n: m.state_dict() for n, m in self.ema.items()},
                    **{"opt_" + n: o.state_dict() for n, o in self.opt.items()}, "state": self.state},
                   self.work / "state.pt.tmp")
        (self.work / "state.pt.tmp").replace(self.work / "state.pt")
        self.out.mkdir(parents=True, exist_ok=True)
        self.pipeline().to(torch.float16).save_pretrained(self.out / "pipeline")  # in every phase: resumable
        if self.state["steps"]["estimator"]:
            save_file({k: v.half().contiguous() for k, v in self.estimator.state_dict().items()},
                      self.out / "estimator.safetensors")
        (self.out / "training_state.json").write_text(json.dumps(self.state, indent=1))

    def pipeline(self):
        """The pipeline as it would ship now (the averaged UNet and text encoder, fp32 copies)."""
        import copy

        vae = copy.deepcopy(self.vae)
        if self.state["scaling_factor"] is not None:
            vae.register_to_config(scaling_factor=self.state["scaling_factor"])
        return assemble(vae.eval(), copy.deepcopy(self.ema["text"]).eval(), self.tokenizer,
                        copy.deepcopy(self.ema["unet"]).eval())


def _vae_step(run: _Run, d: dict, rng: np.random.Generator) -> torch.Tensor:
    x = _images(d, rng.integers(0, len(d["images"]), run.recipe["batch"])).to(run.device) * 2 - 1
    post = run.vae.encode(x).latent_dist
    err = run.vae.decode(post.sample()).sample - x
    return err.abs().mean() + (err ** 2).mean() + run.recipe["kl_weight"] * post.kl().mean()


def _estimator_step(run: _Run, d: dict, rng: np.random.Generator) -> torch.Tensor:
    idx = rng.integers(0, len(d["images"]), run.recipe["batch"])
    x = _images(d, idx).to(run.device)
    with torch.no_grad():  # half the batch through the VAE: generated images come out of its decoder
        half = len(x) // 2
        x[:half] = (run.vae.decode(run.vae.encode(x[:half] * 2 - 1).latent_dist.mode()).sample.clamp(-1, 1) + 1) / 2
    out = run.estimator(x)
    f = nn.functional
    def label(k):
        return torch.from_numpy(d[k][idx]).to(run.device)

    loss = f.smooth_l1_loss(out["disparity"], label("disparity"), beta=0.1) * 10 \
        + f.binary_cross_entropy_with_logits(out["mask"], label("mask").float())
    for k in ATTRIBUTES:
        loss = loss + 0.2 * f.cross_entropy(out[k], label(k))
    return loss


def _latents(run: _Run, d: dict, work: Path) -> dict:
    """The VAE's posterior (mean, std) of every training scene, computed once after the VAE phase."""
    file = work / "latents.pt"
    if file.exists():
        return torch.load(file)
    run.vae.eval()
    means, stds = [], []
    with torch.no_grad():
        for i in range(0, len(d["images"]), 256):
            post = run.vae.encode(_images(d, slice(i, i + 256)).to(run.device) * 2 - 1).latent_dist
            means.append(post.mean.cpu())
            stds.append(post.std.cpu())
    lat = {"mean": torch.cat(means), "std": torch.cat(stds)}
    torch.save(lat, file)
    return lat


def _unet_step(run: _Run, lat: dict, ids: torch.Tensor, rng: np.random.Generator, noise_sched) -> torch.Tensor:
    """``ids``: the scenes' prompt tokens, then one row for the empty prompt (never drawn as a scene)."""
    idx = torch.from_numpy(rng.integers(0, len(ids) - 1, run.recipe["batch"]))
    z = (lat["mean"][idx] + lat["std"][idx] * torch.randn_like(lat["std"][idx])) * run.state["scaling_factor"]
    tokens = ids[idx].clone()
    drop = torch.from_numpy(rng.random(len(idx)) < run.recipe["drop_prompt"])
    tokens[drop] = ids[-1]
    z, tokens = z.to(run.device), tokens.to(run.device)
    cond = run.text(tokens).last_hidden_state
    noise = torch.randn_like(z)
    t = torch.randint(0, noise_sched.config.num_train_timesteps, (len(z),)).to(run.device)
    pred = run.unet(noise_sched.add_noise(z, noise, t), t, cond).sample
    return nn.functional.mse_loss(pred, noise)


def train(work: Path, out: Path, unet_steps: int, recipe: dict | None = None, save_every: float = 300.0,
          threads: int = 2, log_every: int = 50, device: str = "cpu") -> dict:
    """Run (or resume) the three phases until the UNet has taken ``unet_steps`` steps on ``device``; returns
    the state. SIGTERM saves and stops."""
    with stop_on_sigterm() as stop:
        return _train(work, out, unet_steps, recipe, save_every, threads, log_every, stop, torch.device(device))


def _train(work, out, unet_steps, recipe, save_every, threads, log_every, stop, device) -> dict:
    from diffusers import DDPMScheduler

    torch.set_num_threads(threads)
    recipe = {**RECIPE, **(recipe or {})}
    work.mkdir(parents=True, exist_ok=True)
    run = _Run(work, out, recipe, device)
    where = device_label(device, threads)
    d = _data(work, recipe)
    rng = np.random.default_rng(recipe["seed"] + sum(run.state["steps"].values()))
    last_save = time.time()
    targets = {"vae": recipe["vae_steps"], "estimator": recipe["estimator_steps"], "unet": unet_steps}
    lat = ids = None
    noise_sched = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                num_train_timesteps=1000)
    for phase in ("vae", "estimator", "unet"):
        if phase == "unet":
            lat = _latents(run, d, work)
            if run.state["scaling_factor"] is None:
                run.state["scaling_factor"] = float(1 / lat["mean"].std())
            prompts = [str(p) for p in d["prompts"]] + [""]
            ids = run.tokenizer(prompts, padding="max_length", max_length=run.tokenizer.model_max_length,
                                truncation=True, return_tensors="pt").input_ids
        model = {"vae": run.vae, "estimator": run.estimator, "unet": run.unet}[phase]
        model.train()
        run.vae.train(phase == "vae")
        losses = []
        while run.state["steps"][phase] < targets[phase]:
            start = time.time()
            step = run.state["steps"][phase]
            opt = run.opt[phase]
            base = recipe[f"{phase}_lr"]
            if phase == "unet":  # warm up at the start and after a restart from fp16 weights
                since = step - run.state["warm_restart_at"]
                lr = base * min(1.0, (since + 1) / recipe["warmup"])
            else:  # a cosine over the phase's fixed length
                lr = base * 0.5 * (1 + np.cos(np.pi * step / targets[phase]))
            for g in opt.param_groups:
                g["lr"] = lr
            if phase == "vae":
                loss = _vae_step(run, d, rng)
            elif phase == "estimator":
                loss = _estimator_step(run, d, rng)
            else:
                loss = _unet_step(run, lat, ids, rng, noise_sched)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], 1.0)
            opt.step()
            if phase == "unet":  # the average warms up after each (re)start: early on it follows the weights
                decay = ema_decay(step - run.state["warm_restart_at"], recipe)
                with torch.no_grad():
                    for name in run.ema:
                        for e, p in zip(run.ema[name].parameters(), getattr(run, name).parameters(), strict=True):
                            e.lerp_(p, 1 - decay)
            losses.append(loss.item())
            run.state["steps"][phase] += 1
            run.state["trained_on"][phase][where] = run.state["trained_on"][phase].get(where, 0) + 1
            run.state["seconds"][phase] += time.time() - start
            if run.state["steps"][phase] % log_every == 0:
                run.state["losses"][phase].append([run.state["steps"][phase], float(np.mean(losses))])
                print(f"{phase} {run.state['steps'][phase]}/{targets[phase]} loss {np.mean(losses):.4f} "
                      f"({run.state['seconds'][phase]:.0f} s)", flush=True)
                losses = []
            if time.time() - last_save > save_every or stop.is_set():
                run.save()
                last_save = time.time()
            if stop.is_set():
                print("stopped (SIGTERM); saved", flush=True)
                return run.state
        run.save()
        last_save = time.time()
    return run.state


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True, help="where the fp16 checkpoint goes "
                   f"(the shipped one: {HERE / 'checkpoint'})")
    p.add_argument("--work", type=Path, default=cache_dir("worlds", "scenes", "work"))
    p.add_argument("--unet-steps", type=int, default=20000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="cpu, or cuda where the session has a GPU")
    p.add_argument("--save-every", type=float, default=300.0, help="seconds between checkpoints")
    args = p.parse_args(argv)
    train(args.work, args.out, args.unet_steps, threads=args.threads, save_every=args.save_every, device=args.device)


if __name__ == "__main__":
    main()
