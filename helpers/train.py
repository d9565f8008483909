"""One training entry point for every learned codec, resumable and seeded: the rate-distortion loss
``lambda * 255^2 * MSE + bpp`` (DDP-ready), and the two stages of the generative codec (DCGAN, then its encoder).

Command line (resumes by itself when ``RUN_DIR/state.pt`` exists)::

    python -m helpers.train --arch FactorizedPrior --lmbda 0.013 --steps 20000 --run-dir runs/fp-q3 \\
        --export helpers/weights/factorized-q3.pt
    torchrun --nproc_per_node 2 -m helpers.train ...          # data-parallel (gloo on CPU, nccl on GPU)
    python -m helpers.train --plan shipped                    # every shipped checkpoint, in order, resumable
    python -m helpers.train --arch GenerativeCodec --stage gan --steps 6000 --run-dir runs/gan --export runs/gan.pt
    python -m helpers.train --arch GenerativeCodec --stage encoder --init-from runs/gan.pt ...   # G frozen

The state file holds the model, the optimizer, the step, the RNG state and the history. Every batch is drawn from
a generator seeded with ``(seed, step, rank)``, so a resumed run sees the batches an uninterrupted one would have.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from . import checkpoints
from .data import load_images, random_patches
from .losses import DISTORTION_LOSSES, rd_loss
from .models import ARCHITECTURES, Codec, ConvAutoencoder, Discriminator, GenerativeCodec
from .notebook import pick_device, progress

__all__ = ["SHIPPED", "STAGES", "TrainConfig", "fit", "fit_encoder", "fit_gan", "fit_restoration", "train"]

#: What a run optimises: "rd" for the codecs with a learned prior; the generative codec trains its DCGAN ("gan"),
#: then its encoder against the frozen generator ("encoder"), optionally both together ("joint").
STAGES = ("rd", "gan", "encoder", "joint")
AUX_LR = 1e-3  # the CompressAI peer's quantile optimizer (CompressAI's examples/train.py)


@dataclass
class TrainConfig:
    arch: str = "FactorizedPrior"
    model_config: dict = field(default_factory=dict)
    lmbda: float = 0.013
    steps: int = 20000
    batch_size: int = 8
    patch_size: int = 128
    lr: float = 1e-4
    lr_final: float = 1e-5  # cosine decay from lr to lr_final over the run
    data: str = "mcmaster,default-train"  # comma-separated sources for helpers.data.load_images
    seed: int = 0
    run_dir: str = "runs/default"
    export: str = ""  # shipped checkpoint to write when the run ends
    name: str = ""  # checkpoint name written into .nic files
    init_from: str = ""  # warm start: a shipped checkpoint or a run's export
    pca_at: float = 0.5  # ConvAutoencoder: fraction of steps at which the PCA rotation is fitted (<0: never)
    save_every_s: float = 300.0
    until_s: float = 0.0  # stop (state saved) after this many seconds; 0 = no limit
    threads: int = 0  # torch CPU threads; 0 = torch's default
    device: str = "auto"
    stage: str = "rd"  # see STAGES
    distortion: str = "l2"  # a key of helpers.losses.DISTORTION_LOSSES (rd: scaled as in rd_loss)
    kl_weight: float = 1e-3  # encoder/joint stages: weight of KL(q(z|x) || N(0, I)) per latent dimension
    latent_bits: int = 0  # encoder/joint stages: >0 trains through the latent quantizer at 1..latent_bits bits


def fit(model, sample, optimizer, *, start: int, steps: int, lmbda: float, lr_at, on_step=None,
        distortion: str = "l2", aux_optimizer=None) -> None:
    """The plain loop: draw a batch, compute ``lambda * 255^2 * MSE + bpp`` (or another distortion, see
    :func:`helpers.losses.rd_loss`), step. ``on_step`` may stop it. A model with an ``aux_loss`` (the CompressAI
    peer) also takes one step of ``aux_optimizer`` on it, as CompressAI's own training script does."""
    model.train()
    core = getattr(model, "module", model)  # under DistributedDataParallel
    # clip what this optimizer steps: the aux gradients of the previous step must not count in the norm
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for step in range(start, steps):
        _set_lr([optimizer], lr_at(step))
        x = sample(step)
        out = model(x)
        parts = rd_loss(x, out.x_hat, out.likelihoods, lmbda, distortion)
        optimizer.zero_grad(set_to_none=True)
        parts["loss"].backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        if aux_optimizer is not None:
            aux = core.aux_loss()
            aux_optimizer.zero_grad(set_to_none=True)
            aux.backward()
            aux_optimizer.step()
            parts["aux_loss"] = aux
        if on_step is not None and on_step(step + 1, {k: float(v.detach()) for k, v in parts.items()}) is False:
            return


def _set_lr(optimizers, lr: float) -> None:
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = lr


def fit_gan(codec: GenerativeCodec, discriminator, sample, optimizers, *, start: int, steps: int, lr_at,
            on_step=None) -> None:
    """DCGAN's alternation (Radford et al. 2016) with the non-saturating loss: D learns to tell photo tiles from
    G(z), z ~ N(0, I); then G learns to make D call its tiles real. The encoder does not take part."""
    g, d = codec.generator, discriminator
    opt_g, opt_d = optimizers
    g.train()
    d.train()
    for step in range(start, steps):
        _set_lr(optimizers, lr_at(step))
        x = sample(step)
        fake = g(torch.randn(x.shape[0], g.latent_dim, device=x.device))
        real_logit = d(x)
        d_loss = F.softplus(-real_logit).mean() + F.softplus(d(fake.detach())).mean()  # -log D(x) - log(1 - D(G(z)))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        g_loss = F.softplus(-d(fake)).mean()  # -log D(G(z))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        parts = {"loss": d_loss.item() + g_loss.item(), "d_loss": d_loss.item(), "g_loss": g_loss.item(),
                 "d_real": torch.sigmoid(real_logit.detach()).mean().item()}
        if on_step is not None and on_step(step + 1, parts) is False:
            return


def fit_restoration(net, sample, optimizer, *, start: int, steps: int, loss_fn, lr_at, on_step=None) -> None:
    """Artefact removal: ``sample(step)`` gives (clean, decoded) batches; the net learns decoded -> clean under
    ``loss_fn(clean, restored)``."""
    net.train()
    for step in range(start, steps):
        _set_lr([optimizer], lr_at(step))
        clean, decoded = sample(step)
        loss = loss_fn(clean, net(decoded))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if on_step is not None and on_step(step + 1, {"loss": loss.item()}) is False:
            return


def fit_encoder(codec: GenerativeCodec, sample, optimizer, *, start: int, steps: int, lr_at, distortion: str = "l2",
                kl_weight: float = 1e-3, joint: bool = False, latent_bits: int = 0, on_step=None) -> None:
    """Santurkar et al. 2018, second stage: the encoder learns to invert the generator, ``d(x, G(z)) + w KL``,
    z a reparameterised sample of q(z | x). The generator stays frozen in eval mode (as it decodes) unless
    ``joint``; the KL term keeps μ where the generator was trained, N(0, I). With ``latent_bits`` each batch
    goes through the real quantizer at a random depth of 1..latent_bits bits instead (quantization-aware)."""
    loss_fn = DISTORTION_LOSSES[distortion]
    codec.train()
    if not joint:
        codec.generator.eval().requires_grad_(False)
    for step in range(start, steps):
        _set_lr([optimizer], lr_at(step))
        x = sample(step)
        out = codec(x, int(torch.randint(1, latent_bits + 1, ())) if latent_bits else None)
        dist = loss_fn(x, out.x_hat)
        kl = 0.5 * (out.mu**2 + out.logvar.exp() - 1 - out.logvar).mean()
        loss = dist + kl_weight * kl
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(codec.parameters(), 1.0)
        optimizer.step()
        parts = {"loss": loss.item(), "distortion": dist.item(), "kl": kl.item(),
                 "mse": F.mse_loss(out.x_hat.detach(), x).item()}
        if on_step is not None and on_step(step + 1, parts) is False:
            return


def _distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _save_state(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def _optimizers(cfg: TrainConfig, model: Codec, device) -> tuple[dict, torch.nn.Module | None]:
    """The optimizers a stage steps (by name), and the discriminator for the GAN stage."""
    if cfg.stage not in STAGES:
        raise ValueError(f"unknown stage {cfg.stage!r}; choose from {', '.join(STAGES)}")
    if (cfg.stage != "rd") != isinstance(model, GenerativeCodec):
        raise ValueError(f"stage {cfg.stage!r} does not train a {type(model).__name__}")
    if cfg.stage == "gan":  # DCGAN's Adam settings
        d = Discriminator(model.config["channels"], model.size).to(device)
        return {"generator": torch.optim.Adam(model.generator.parameters(), lr=cfg.lr, betas=(0.5, 0.999)),
                "discriminator": torch.optim.Adam(d.parameters(), lr=cfg.lr, betas=(0.5, 0.999))}, d
    if hasattr(model, "aux_parameters"):  # CompressAI's split: quantiles on their own optimizer, lr 1e-3
        aux = {id(p) for p in model.aux_parameters()}
        main = [p for p in model.parameters() if id(p) not in aux]
        return {"model": torch.optim.Adam(main, lr=cfg.lr),
                "aux": torch.optim.Adam(model.aux_parameters(), lr=AUX_LR)}, None
    params = model.encoder.parameters() if cfg.stage == "encoder" else model.parameters()
    return {"model": torch.optim.Adam(params, lr=cfg.lr)}, None


def train(cfg: TrainConfig, command: str = "") -> Codec:
    """Run (or resume) one training run; export the shipped checkpoint when it completes."""
    rank, world = _distributed()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    run = Path(cfg.run_dir)
    state_path = run / "state.pt"

    images = [im for src in cfg.data.split(",") for im in load_images(src.strip()).values()]
    if cfg.init_from:
        model = checkpoints.load(cfg.init_from)
    else:
        arch = ARCHITECTURES.get(cfg.arch)
        if arch is None:
            raise ValueError(f"unknown architecture {cfg.arch!r}; choose from {', '.join(ARCHITECTURES)}")
        torch.manual_seed(cfg.seed)
        model = arch(**cfg.model_config)
    model.to(device)
    optimizers, discriminator = _optimizers(cfg, model, device)
    step, history, elapsed = 0, [], 0.0
    if state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        theirs = state["config"]
        if (theirs["arch"], theirs["lmbda"], theirs.get("stage", "rd")) != (cfg.arch, cfg.lmbda, cfg.stage):
            raise ValueError(f"{state_path} belongs to another run ({theirs['arch']}, lambda {theirs['lmbda']}, "
                             f"stage {theirs.get('stage', 'rd')}); choose another --run-dir")
        model.load_state_dict(state["model"])
        for name, opt in optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        if discriminator is not None:
            discriminator.load_state_dict(state["discriminator"])
        step, history, elapsed = state["step"], state["history"], state["elapsed_s"]
        torch.set_rng_state(state["rng"])
        if rank == 0:
            print(f"resuming {run} at step {step}/{cfg.steps}", flush=True)
    else:
        torch.manual_seed(cfg.seed + rank)
    if world > 1 and cfg.stage != "rd":
        raise ValueError("the generative stages run in one process")
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    patch = model.size if isinstance(model, GenerativeCodec) else cfg.patch_size  # the generator's tile

    def lr_at(s: int) -> float:
        return cfg.lr_final + 0.5 * (cfg.lr - cfg.lr_final) * (1 + math.cos(math.pi * min(s / cfg.steps, 1.0)))

    def sample(s: int) -> torch.Tensor:
        g = torch.Generator().manual_seed((cfg.seed * 1_000_003 + s) * 64 + rank)
        return random_patches(images, cfg.batch_size, patch, g).to(device)

    def save(s: int) -> None:
        if rank == 0:
            _save_state(state_path, {"config": asdict(cfg), "model": model.state_dict(),
                                     "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
                                     "discriminator": None if discriminator is None else discriminator.state_dict(),
                                     "step": s, "history": history, "rng": torch.get_rng_state(),
                                     "elapsed_s": elapsed + time.time() - t0})

    t0 = time.time()
    last_save = time.time()
    window: list[dict] = []
    bar = progress(range(cfg.steps), desc=run.name, initial=step, disable=rank != 0, mininterval=5)

    def on_step(s: int, parts: dict) -> bool:
        nonlocal last_save
        bar.update(1)
        window.append(parts)
        if s % 100 == 0 or s == cfg.steps:
            mean = {k: sum(p[k] for p in window) / len(window) for k in window[0]}
            if "mse" in mean:
                mean["psnr"] = -10 * math.log10(max(mean["mse"], 1e-12))
            history.append({"step": s, **mean, "time_s": elapsed + time.time() - t0})
            window.clear()
            shown = {k: f"{mean[k]:.3f}" for k in ("bpp", "psnr", "d_loss", "g_loss", "kl") if k in mean}
            bar.set_postfix(shown)
            if rank == 0 and s % 1000 == 0:
                print(f"{run.name} step {s}: loss {mean['loss']:.4f} " + " ".join(f"{k} {v}" for k, v in shown.items()),
                      flush=True)
        if isinstance(model, ConvAutoencoder) and cfg.pca_at >= 0 and s == int(cfg.pca_at * cfg.steps):
            fit_pca(model, images, cfg)
        if isinstance(model, GenerativeCodec) and cfg.stage != "gan" and s == cfg.steps:
            fit_tables(model, images, cfg)
        if s == cfg.steps or time.time() - last_save > cfg.save_every_s:
            save(s)
            last_save = time.time()
        if cfg.until_s and time.time() - t0 > cfg.until_s:
            save(s)
            return False
        return True

    if step < cfg.steps and cfg.stage == "rd":
        fit(net, sample, optimizers["model"], start=step, steps=cfg.steps, lmbda=cfg.lmbda, lr_at=lr_at,
            on_step=on_step, distortion=cfg.distortion, aux_optimizer=optimizers.get("aux"))
    elif step < cfg.steps and cfg.stage == "gan":
        fit_gan(model, discriminator, sample, (optimizers["generator"], optimizers["discriminator"]), start=step,
                steps=cfg.steps, lr_at=lr_at, on_step=on_step)
    elif step < cfg.steps:
        fit_encoder(model, sample, optimizers["model"], start=step, steps=cfg.steps, lr_at=lr_at,
                    distortion=cfg.distortion, kl_weight=cfg.kl_weight, joint=cfg.stage == "joint",
                    latent_bits=cfg.latent_bits, on_step=on_step)
    bar.close()
    final = torch.load(state_path, map_location="cpu", weights_only=True) if state_path.exists() else None
    done = final is not None and final["step"] >= cfg.steps
    if done and rank == 0 and cfg.export:
        meta = {"arch": cfg.arch, "stage": cfg.stage, "steps": cfg.steps, "data": cfg.data,
                "batch_size": cfg.batch_size * world, "patch_size": patch, "seed": cfg.seed,
                "init_from": cfg.init_from, "train_seconds": final["elapsed_s"], "world_size": world,
                "device": str(device), "torch": str(torch.__version__), "command": command,
                "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "final": final["history"][-1] if final["history"] else {}}
        if cfg.stage == "rd":
            meta.update({"lambda": cfg.lmbda, "distortion": cfg.distortion})
        else:
            meta.update(distortion=cfg.distortion, kl_weight=cfg.kl_weight, lr=cfg.lr, latent_bits=cfg.latent_bits)
        # the whole budget behind these weights, warm starts included (a fine-tune alone undersells its cost)
        base = getattr(model, "meta", {}) if cfg.init_from else {}
        meta["total_steps"] = cfg.steps + int(base.get("total_steps", base.get("steps", 0)))
        meta["total_train_seconds"] = final["elapsed_s"] + float(base.get("total_train_seconds",
                                                                           base.get("train_seconds", 0.0)))
        checkpoints.export(model.cpu(), cfg.export, cfg.name or Path(cfg.export).stem, meta)
        print(f"exported {_shown_path(cfg.export)}", flush=True)
    model.eval()
    return model


def _shown_path(path: str | Path) -> str:
    """A path as a message shows it: relative to the working directory when inside it, the file name alone when
    it lies in a temporary folder (a chapter's run: the folder's name is noise to a reader), else as given."""
    import tempfile

    p = Path(path).resolve()
    if p.is_relative_to(Path.cwd().resolve()):
        return str(p.relative_to(Path.cwd().resolve()))
    if p.is_relative_to(Path(tempfile.gettempdir()).resolve()):
        return f"{p.name} (in a temporary folder)"
    return str(path)


@torch.no_grad()
def fit_tables(model: GenerativeCodec, images: list[torch.Tensor], cfg: TrainConfig, tiles: int = 8192) -> None:
    """Fit the generative codec's entropy model on ``tiles`` fixed training tiles (seeded)."""
    g = torch.Generator().manual_seed(cfg.seed + 54321)
    batch = random_patches(images, tiles, model.size, g)
    was_training = model.training
    model.eval()
    model.fit_tables(batch)
    model.train(was_training)
    if cfg.stage == "encoder":
        model.generator.eval()


@torch.no_grad()
def fit_pca(model: ConvAutoencoder, images: list[torch.Tensor], cfg: TrainConfig) -> None:
    """Fit the CAE's rotation on 64 fixed training patches (seeded), then keep training with it in place."""
    g = torch.Generator().manual_seed(cfg.seed + 12345)
    batch = random_patches(images, 64, cfg.patch_size, g).to(model.pca_mean.device)
    was_training = model.training
    model.eval()
    model.fit_pca(list(batch.split(16)))
    model.train(was_training)


# --------------------------------------------------------------------------------------------------------------
# The shipped checkpoints: one plan, run in order, each run resumable. A base run per architecture is trained
# longest at a middle lambda; every rate point then fine-tunes from it (the usual way to save compute).
# --------------------------------------------------------------------------------------------------------------

FP_CONFIG = {"channels": 96, "latent_channels": 128}
CAE_CONFIG = {"channels": 96, "latent_channels": 64, "blocks": 2, "downsamplings": 4}
BASE_LMBDA = 0.013
# Rate points, lowest rate first. The factorized model uses CompressAI's q1-q4 lambdas; at the same lambda the CAE
# spends about half the bits (measured after its base run: 0.29 bpp vs 0.65 bpp at lambda 0.013), so its points
# sit one doubling higher and both curves cover about 0.15-0.8 bpp, JPEG's useful low-rate range.
LAMBDAS = {
    "factorized": {"q1": 0.0018, "q2": 0.0035, "q3": 0.0067, "q4": 0.013},
    "cae": {"q1": 0.0067, "q2": 0.013, "q3": 0.025, "q4": 0.05},
}
BASE_STEPS = 20000
# fine-tune steps per rate point: about 25 CPU minutes each (a factorized step costs ~1.5x a CAE step)
TUNE_STEPS = {"factorized": 3000, "cae": 4000}
STATE_DIR = "train_state"  # committed, so a later session resumes where this one stopped


def _rate_points(short: str, arch: str, conf: dict, lambdas: dict, steps: int, export_dir: str) -> list[TrainConfig]:
    """A base run at BASE_LMBDA, then one fine-tune from it per rate point."""
    base = f"{STATE_DIR}/{short}-base/final.pt"
    plan = [TrainConfig(arch=arch, model_config=conf, lmbda=BASE_LMBDA, steps=BASE_STEPS, lr=2e-4,
                        run_dir=f"{STATE_DIR}/{short}-base", export=base, name=f"{short}-base")]
    for q, lmbda in lambdas.items():
        plan.append(TrainConfig(arch=arch, model_config=conf, lmbda=lmbda, steps=steps, lr=1e-4,
                                run_dir=f"{STATE_DIR}/{short}-{q}", export=f"{export_dir}/{short}-{q}.pt",
                                name=f"{short}-{q}", init_from=base, pca_at=-1.0))
    return plan


def _shipped() -> list[TrainConfig]:
    plan = []
    for short, arch, conf in [("factorized", "FactorizedPrior", FP_CONFIG), ("cae", "ConvAutoencoder", CAE_CONFIG)]:
        plan += _rate_points(short, arch, conf, LAMBDAS[short], TUNE_STEPS[short], "helpers/weights")
    # the generative codec (Santurkar et al. 2018): a DCGAN on 32x32 tiles, then its encoder with G frozen
    gan = f"{STATE_DIR}/generative-gan/final.pt"
    plan.append(TrainConfig(arch="GenerativeCodec", model_config=GEN_CONFIG, stage="gan", steps=GAN_STEPS,
                            batch_size=64, lr=2e-4, lr_final=2e-4, run_dir=f"{STATE_DIR}/generative-gan", export=gan,
                            name="generative-gan"))
    encoder = f"{STATE_DIR}/generative-encoder/final.pt"
    plan.append(TrainConfig(arch="GenerativeCodec", model_config=GEN_CONFIG, stage="encoder", steps=ENCODER_STEPS,
                            batch_size=64, lr=5e-4, lr_final=1e-5, run_dir=f"{STATE_DIR}/generative-encoder",
                            export=encoder, name="generative-encoder", init_from=gan))
    # then through the real quantizer: the first encoder put 6.5 % of its numbers beyond +-2.5, where the CDF bins
    # clip them (measured: -2 dB even at 8 bits), and learned no tolerance to coarse bins
    plan.append(TrainConfig(arch="GenerativeCodec", model_config=GEN_CONFIG, stage="encoder", steps=QUANT_STEPS,
                            batch_size=64, lr=1e-4, lr_final=1e-5, latent_bits=4, run_dir=f"{STATE_DIR}/generative",
                            export="helpers/weights/generative.pt", name="generative", init_from=encoder))
    return plan


GEN_CONFIG = {"latent_dim": 64, "channels": 64, "size": 32, "bits": 3}
# measured on one CPU thread beside other jobs: 56, 24 and 8 minutes
GAN_STEPS = 8000
ENCODER_STEPS = 6000
QUANT_STEPS = 3000  # quantization-aware fine-tune of the encoder
SHIPPED = _shipped()
#: The peer (benchmarks, not shipped in the package): CompressAI's bmshj2018-factorized at our factorized model's
#: size, trained exactly as our factorized checkpoints were (data, batches, steps, lambdas, learning rates).
PEER_DIR = "benchmarks/peers"
PEER = _rate_points("compressai", "CompressAIFactorized", FP_CONFIG, LAMBDAS["factorized"],
                    TUNE_STEPS["factorized"], PEER_DIR)
PLANS = {"shipped": SHIPPED, "peer": PEER}


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m helpers.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--plan", choices=list(PLANS), help="run every run of a plan, in order: the shipped "
                   "checkpoints, or the CompressAI peer's (needs [peers])")
    p.add_argument("--only", default="", help="with --plan: comma-separated run names (e.g. factorized-base)")
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.name == "model_config":
            p.add_argument(flag, type=json.loads, default=None, help="JSON dict of constructor arguments")
        else:
            p.add_argument(flag, type=type(f.default), default=None)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = _parse(argv)
    overrides = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name) is not None}
    command = "python -m helpers.train " + " ".join(shlex.quote(a) for a in argv)
    if args.plan:
        only = {s for s in args.only.split(",") if s}
        t0 = time.time()
        for cfg in PLANS[args.plan]:
            if only and Path(cfg.run_dir).name not in only:
                continue
            if Path(cfg.export).exists():
                continue
            for k in ("until_s", "threads", "device", "save_every_s"):
                if k in overrides:
                    setattr(cfg, k, overrides[k])
            if cfg.until_s:
                cfg.until_s = overrides["until_s"] - (time.time() - t0)
                if cfg.until_s <= 0:
                    break
            train(cfg, command)
            if not Path(cfg.export).exists():
                break  # stopped by the time limit: the next run needs this one
        return
    train(TrainConfig(**overrides), command)


if __name__ == "__main__":
    main()
