"""One training run: its configuration (:class:`TrainConfig`), state file, resume, export and result
(:class:`TrainResult`). The command line and the seeding rules are described in :mod:`helpers.train`."""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist

from .. import checkpoints
from ..datasets import load_images, random_patches
from ..models import ARCHITECTURES, Codec, Discriminator
from ..runtime import pick_device, progress
from .loops import fit, fit_encoder, fit_gan

__all__ = ["AUX_LR", "STAGES", "TrainConfig", "TrainResult", "optimizers_for", "train"]

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
    data: str = "mcmaster,default-train"  # comma-separated sources for helpers.datasets.load_images
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


@dataclass
class TrainResult:
    """What a run leaves: the trained model (eval mode), its history (one dict every 100 steps: the step, the
    mean losses, ``bpp``/``psnr`` where they apply, the seconds so far), its state file, the step it reached and
    whether it finished and exported its checkpoint."""

    model: Codec
    history: list[dict]
    state_path: Path
    step: int
    exported: bool


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


def optimizers_for(cfg: TrainConfig, model: Codec, device) -> tuple[dict, torch.nn.Module | None]:
    """The optimizers a stage steps (by name), and the discriminator for the GAN stage."""
    if cfg.stage not in STAGES:
        raise ValueError(f"unknown stage {cfg.stage!r}; choose from {', '.join(STAGES)}")
    if cfg.stage not in model.stages:
        raise ValueError(
            f"stage {cfg.stage!r} does not train a {type(model).__name__} (its stages: {', '.join(model.stages)})"
        )
    if cfg.stage == "gan":  # DCGAN's Adam settings
        d = Discriminator(model.config["channels"], model.size).to(device)
        return {
            "generator": torch.optim.Adam(model.generator.parameters(), lr=cfg.lr, betas=(0.5, 0.999)),
            "discriminator": torch.optim.Adam(d.parameters(), lr=cfg.lr, betas=(0.5, 0.999)),
        }, d
    if hasattr(model, "aux_parameters"):  # CompressAI's split: quantiles on their own optimizer, lr 1e-3
        aux = {id(p) for p in model.aux_parameters()}
        main = [p for p in model.parameters() if id(p) not in aux]
        return {
            "model": torch.optim.Adam(main, lr=cfg.lr),
            "aux": torch.optim.Adam(model.aux_parameters(), lr=AUX_LR),
        }, None
    params = model.encoder.parameters() if cfg.stage == "encoder" else model.parameters()
    return {"model": torch.optim.Adam(params, lr=cfg.lr)}, None


def train(cfg: TrainConfig, command: str = "") -> TrainResult:
    """Run (or resume) one training run; export the checkpoint when it completes. Returns the model (in eval
    mode), its history and where the run's state lies."""
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
    optimizers, discriminator = optimizers_for(cfg, model, device)
    step, history, elapsed = 0, [], 0.0
    if state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        theirs = state["config"]
        if (theirs["arch"], theirs["lmbda"], theirs.get("stage", "rd")) != (cfg.arch, cfg.lmbda, cfg.stage):
            raise ValueError(
                f"{state_path} belongs to another run ({theirs['arch']}, lambda {theirs['lmbda']}, "
                f"stage {theirs.get('stage', 'rd')}); choose another --run-dir"
            )
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
    patch = model.training_patch or cfg.patch_size  # the generative codec trains on its own tile size

    def lr_at(s: int) -> float:
        return cfg.lr_final + 0.5 * (cfg.lr - cfg.lr_final) * (1 + math.cos(math.pi * min(s / cfg.steps, 1.0)))

    def fixed_patches(n: int, size: int, salt: int) -> torch.Tensor:  # for the model's own fits (on_train_step)
        return random_patches(images, n, size, torch.Generator().manual_seed(cfg.seed + salt))

    def sample(s: int) -> torch.Tensor:
        g = torch.Generator().manual_seed((cfg.seed * 1_000_003 + s) * 64 + rank)
        return random_patches(images, cfg.batch_size, patch, g).to(device)

    def save(s: int) -> None:
        if rank == 0:
            _save_state(
                state_path,
                {
                    "config": asdict(cfg),
                    "model": model.state_dict(),
                    "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
                    "discriminator": None if discriminator is None else discriminator.state_dict(),
                    "step": s,
                    "history": history,
                    "rng": torch.get_rng_state(),
                    "elapsed_s": elapsed + time.time() - t0,
                },
            )

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
                print(
                    f"{run.name} step {s}: loss {mean['loss']:.4f} " + " ".join(f"{k} {v}" for k, v in shown.items()),
                    flush=True,
                )
        model.on_train_step(s, cfg, fixed_patches)
        if s == cfg.steps or time.time() - last_save > cfg.save_every_s:
            save(s)
            last_save = time.time()
        if cfg.until_s and time.time() - t0 > cfg.until_s:
            save(s)
            return False
        return True

    if step < cfg.steps and cfg.stage == "rd":
        fit(
            net,
            sample,
            optimizers["model"],
            start=step,
            steps=cfg.steps,
            lmbda=cfg.lmbda,
            lr_at=lr_at,
            on_step=on_step,
            distortion=cfg.distortion,
            aux_optimizer=optimizers.get("aux"),
        )
    elif step < cfg.steps and cfg.stage == "gan":
        fit_gan(
            model,
            discriminator,
            sample,
            (optimizers["generator"], optimizers["discriminator"]),
            start=step,
            steps=cfg.steps,
            lr_at=lr_at,
            on_step=on_step,
        )
    elif step < cfg.steps:
        fit_encoder(
            model,
            sample,
            optimizers["model"],
            start=step,
            steps=cfg.steps,
            lr_at=lr_at,
            distortion=cfg.distortion,
            kl_weight=cfg.kl_weight,
            joint=cfg.stage == "joint",
            latent_bits=cfg.latent_bits,
            on_step=on_step,
        )
    bar.close()
    final = torch.load(state_path, map_location="cpu", weights_only=True) if state_path.exists() else None
    done = final is not None and final["step"] >= cfg.steps
    if done and rank == 0 and cfg.export:
        meta = {
            "arch": cfg.arch,
            "stage": cfg.stage,
            "steps": cfg.steps,
            "data": cfg.data,
            "batch_size": cfg.batch_size * world,
            "patch_size": patch,
            "seed": cfg.seed,
            "init_from": cfg.init_from,
            "train_seconds": final["elapsed_s"],
            "world_size": world,
            "device": str(device),
            "torch": str(torch.__version__),
            "command": command,
            "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "final": final["history"][-1] if final["history"] else {},
        }
        if cfg.stage == "rd":
            meta.update({"lambda": cfg.lmbda, "distortion": cfg.distortion})
        else:
            meta.update(distortion=cfg.distortion, kl_weight=cfg.kl_weight, lr=cfg.lr, latent_bits=cfg.latent_bits)
        # the whole budget behind these weights, warm starts included (a fine-tune alone undersells its cost)
        base = getattr(model, "meta", {}) if cfg.init_from else {}
        meta["total_steps"] = cfg.steps + int(base.get("total_steps", base.get("steps", 0)))
        meta["total_train_seconds"] = final["elapsed_s"] + float(
            base.get("total_train_seconds", base.get("train_seconds", 0.0))
        )
        checkpoints.export(model.cpu(), cfg.export, cfg.name or Path(cfg.export).stem, meta)
        print(f"exported {_shown_path(cfg.export)}", flush=True)
    model.eval()
    return TrainResult(
        model,
        list(final["history"]) if final else history,
        state_path,
        int(final["step"]) if final else step,
        bool(done and cfg.export),
    )


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
