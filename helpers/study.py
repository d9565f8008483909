"""The loss-function study of Zhao et al. 2017: one network, trained once per loss with the same data, budget,
initialisation and batches (per seed), every result measured on every metric.

Two networks:

* ``reccnn``: removal of JPEG artefacts (:class:`helpers.models.RecCNN`, after Tao et al. 2017) from JPEG files
  of one ``quality``; the baseline row ``jpeg`` is the decoded file itself;
* ``cae``: the CAE codec, fine-tuned from the shipped rate point of each ``lambda`` with
  ``rd_loss(distortion=loss)``, measured on real bytes; the baseline row ``shipped`` is that checkpoint untouched.

Command line (writes ``loss-study-<network>.csv`` and ``.json`` into ``--out``)::

    python -m helpers.study --network reccnn --steps 600 --seeds 0 1 2 --out benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import pandas as pd
import torch

from . import checkpoints
from .classical import classical_codecs
from .datasets import load_images, random_patches
from .losses import DISTORTION_LOSSES
from .metrics import evaluate
from .models import RecCNN
from .runtime import progress
from .train import TrainConfig, train
from .train.loops import set_lr
from .train.plans import LAMBDAS

__all__ = [
    "NETWORKS",
    "StudyConfig",
    "jpeg_pairs",
    "run_study",
    "save_study",
    "saved_study",
    "summarize",
    "train_restoration",
]

NETWORKS = ("reccnn", "cae")
#: Where the repository keeps the full studies (``python -m helpers.study ... --out benchmarks/results``).
METRICS = ("psnr", "ssim", "ms_ssim", "l1")
#: The CAE fine-tunes on patches at least this large, as it was trained: on 64-pixel patches (4x4 latents, mostly
#: border) ten steps cost it 1.8 dB on the held-out photos (measured), whatever the loss.
CAE_PATCH = 128


@dataclass(frozen=True)
class StudyConfig:
    network: str = "reccnn"
    losses: tuple[str, ...] = tuple(DISTORTION_LOSSES)
    seeds: tuple[int, ...] = (0, 1, 2)
    steps: int = 600
    batch_size: int = 16
    patch_size: int = 64  # at least 49: the widest MS-SSIM window of Zhao et al. needs it
    lr: float = 1e-3  # reccnn
    cae_lr: float = 2e-5  # cae: a converged codec, fresh Adam moments (1e-4 cost it 0.3-1.8 dB in 10 steps)
    quality: int = 10  # reccnn: JPEG quality of the input
    model_config: dict = field(default_factory=lambda: {"depth": 6, "channels": 32})  # reccnn
    lmbdas: tuple[float, ...] = (0.0067, 0.025)  # cae: rate points (shipped cae-q1 and cae-q3)
    data: str = "default-train"  # training photos (helpers.datasets.load_images sources, comma-separated)
    images: str = "default"  # evaluation photos
    threads: int = 0


def jpeg_pairs(images: list[torch.Tensor], quality: int) -> list[torch.Tensor]:
    """Each image stacked on its JPEG-decoded copy, ``(6, H, W)``: random crops then cut both at the same place,
    on the JPEG block grid of the whole image (as in real files)."""
    jpeg = classical_codecs(["JPEG"])[0]
    return [torch.cat([x, jpeg.decompress(jpeg.compress(x, quality))]) for x in images]


def _training_images(cfg: StudyConfig) -> list[torch.Tensor]:
    return [im for src in cfg.data.split(",") for im in load_images(src.strip()).values()]


def fit_restoration(net, sample, optimizer, *, start: int, steps: int, loss_fn, lr_at, on_step=None) -> None:
    """Artefact removal: ``sample(step)`` gives (clean, decoded) batches; the net learns decoded -> clean under
    ``loss_fn(clean, restored)``."""
    net.train()
    for step in range(start, steps):
        set_lr([optimizer], lr_at(step))
        clean, decoded = sample(step)
        loss = loss_fn(clean, net(decoded))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if on_step is not None and on_step(step + 1, {"loss": loss.item()}) is False:
            return


def train_restoration(
    cfg: StudyConfig, loss: str, seed: int, pairs: list[torch.Tensor] | None = None, history: list | None = None
) -> RecCNN:
    """One RecCNN trained with ``loss``: initialisation and batches depend on ``seed`` only, not on the loss."""

    pairs = pairs if pairs is not None else jpeg_pairs(_training_images(cfg), cfg.quality)
    torch.manual_seed(seed)
    net = RecCNN(**cfg.model_config)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)

    def sample(step: int):
        b = random_patches(pairs, cfg.batch_size, cfg.patch_size, torch.Generator().manual_seed(seed * 100_003 + step))
        return b[:, :3], b[:, 3:]

    def lr_at(step: int) -> float:  # cosine to a tenth
        return cfg.lr * (0.55 + 0.45 * math.cos(math.pi * step / cfg.steps))

    def on_step(step: int, parts: dict) -> None:
        if history is not None:
            history.append({"step": step, "loss": parts["loss"]})

    fit_restoration(
        net, sample, opt, start=0, steps=cfg.steps, loss_fn=DISTORTION_LOSSES[loss], lr_at=lr_at, on_step=on_step
    )
    return net.eval()


def _measure(x: torch.Tensor, x_hat: torch.Tensor, num_bytes: int | None = None) -> dict:
    m = evaluate(x, x_hat, num_bytes)
    keep = {k: m[k] for k in ("psnr", "ssim", "ms_ssim")}
    keep["l1"] = float((x - x_hat).abs().mean())
    if num_bytes is not None:
        keep.update(bytes=num_bytes, bpp=m["bpp"])
    return keep


def _reccnn(cfg: StudyConfig, evaluation: dict[str, torch.Tensor], models: dict | None) -> list[dict]:
    pairs = jpeg_pairs(_training_images(cfg), cfg.quality)
    test = {name: pair[3:] for name, pair in zip(evaluation, jpeg_pairs(list(evaluation.values()), cfg.quality))}
    rows = [{"loss": "jpeg", "seed": None, "image": n, **_measure(x, test[n])} for n, x in evaluation.items()]
    runs = [(loss, seed) for seed in cfg.seeds for loss in cfg.losses]
    for loss, seed in progress(runs, desc="loss study"):
        t0 = time.time()
        net = train_restoration(cfg, loss, seed, pairs)
        with torch.no_grad():
            for n, x in evaluation.items():
                rows.append(
                    {
                        "loss": loss,
                        "seed": seed,
                        "image": n,
                        "train_s": time.time() - t0,
                        **_measure(x, net(test[n][None])[0].clamp(0, 1)),
                    }
                )
        if models is not None:
            models[(loss, seed)] = net
    return rows


def _cae(cfg: StudyConfig, evaluation: dict[str, torch.Tensor], models: dict | None) -> list[dict]:
    # the shipping plan says which checkpoint holds which lambda
    shipped = {
        lmbda: f"cae-{q}"
        for q, lmbda in LAMBDAS["cae"].items()
        if lmbda in cfg.lmbdas and f"cae-{q}" in checkpoints.available()
    }
    missing = [lm for lm in cfg.lmbdas if lm not in shipped]
    if missing:
        raise FileNotFoundError(f"no shipped CAE checkpoint at lambda {missing}; shipped: {sorted(shipped)}")
    rows = []
    for lmbda, name in shipped.items():
        base = checkpoints.load(name)
        for n, x in evaluation.items():
            data = base.compress(x)
            rows.append(
                {
                    "loss": "shipped",
                    "seed": None,
                    "lambda": lmbda,
                    "image": n,
                    **_measure(x, base.decompress(data), len(data)),
                }
            )
    runs = [(lmbda, loss, seed) for seed in cfg.seeds for lmbda in cfg.lmbdas for loss in cfg.losses]
    with tempfile.TemporaryDirectory(prefix="nic-study-") as tmp:
        for lmbda, loss, seed in progress(runs, desc="loss study"):
            t0 = time.time()
            run = TrainConfig(
                arch="ConvAutoencoder",
                init_from=shipped[lmbda],
                lmbda=lmbda,
                distortion=loss,
                steps=cfg.steps,
                lr=cfg.cae_lr,
                lr_final=cfg.cae_lr / 10,
                batch_size=cfg.batch_size,
                patch_size=max(cfg.patch_size, CAE_PATCH),
                data=cfg.data,
                seed=seed,
                pca_at=-1.0,
                save_every_s=1e9,
                run_dir=f"{tmp}/{lmbda}-{loss}-{seed}",
                threads=cfg.threads,
            )
            model = train(run).model.cpu().eval()
            for n, x in evaluation.items():
                data = model.compress(x)
                rows.append(
                    {
                        "loss": loss,
                        "seed": seed,
                        "lambda": lmbda,
                        "image": n,
                        "train_s": time.time() - t0,
                        **_measure(x, model.decompress(data), len(data)),
                    }
                )
            if models is not None:
                models[(lmbda, loss, seed)] = model
    return rows


def run_study(cfg: StudyConfig, models: dict | None = None) -> pd.DataFrame:
    """One row per (loss, seed, [lambda], evaluation image); ``models``, if given, collects the trained networks."""
    if cfg.network not in NETWORKS:
        raise ValueError(f"unknown network {cfg.network!r}; choose from {', '.join(NETWORKS)}")
    unknown = [loss for loss in cfg.losses if loss not in DISTORTION_LOSSES]
    if unknown:
        raise ValueError(f"unknown losses {unknown}; choose from {', '.join(DISTORTION_LOSSES)}")
    if cfg.patch_size < 49 and {"ms-ssim", "mix"} & set(cfg.losses):
        raise ValueError("MS-SSIM losses need patches of at least 49 pixels (the widest Gaussian window)")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    evaluation = load_images(cfg.images)
    rows = (_reccnn if cfg.network == "reccnn" else _cae)(cfg, evaluation, models)
    out = pd.DataFrame(rows)
    out.insert(0, "network", cfg.network)
    return out


def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean over the evaluation images per run, then mean and standard deviation over seeds: one row per loss
    (and lambda), columns ``<metric>`` and, where some row has two or more seeds, ``<metric> sd`` (one seed has
    no spread to report: a column of zeros would read as "no spread")."""
    keys = ["loss"] + (["lambda"] if "lambda" in rows and rows["lambda"].notna().any() else [])
    metrics = [m for m in (*METRICS, "bpp") if m in rows]
    per_run = rows.fillna({"seed": -1}).groupby([*keys, "seed"], sort=False)[metrics].mean()
    mean = per_run.groupby(keys, sort=False).mean()
    if per_run.groupby(keys, sort=False).size().max() < 2:
        return mean[metrics]
    sd = per_run.groupby(keys, sort=False).std(ddof=1).add_suffix(" sd")  # NaN where a row has one seed
    table = mean.join(sd)
    return table[[c for m in metrics for c in (m, f"{m} sd")]]


def save_study(rows: pd.DataFrame, cfg: StudyConfig, out_dir: str | Path, command: str = "") -> tuple[Path, Path]:
    """``loss-study-<network>.csv`` (every row) and ``.json`` (configuration, command and summary)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv, js = out / f"loss-study-{cfg.network}.csv", out / f"loss-study-{cfg.network}.json"
    rows.to_csv(csv, index=False)
    summary = summarize(rows).reset_index()
    js.write_text(
        json.dumps(
            {
                "config": asdict(cfg),
                "command": command,
                "torch": torch.__version__,
                "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "summary": summary.to_dict(orient="records"),
            },
            indent=1,
            default=str,
        )
    )
    return csv, js


def saved_study(network: str, results_dir: str | Path) -> tuple[pd.DataFrame, dict] | None:
    """A full study saved by :func:`save_study` in ``results_dir`` (rows and its JSON record), or None where that
    folder has none (the repository keeps them in ``benchmarks/results``; a pip install carries none)."""
    csv, js = Path(results_dir) / f"loss-study-{network}.csv", Path(results_dir) / f"loss-study-{network}.json"
    if not (csv.exists() and js.exists()):
        return None
    return pd.read_csv(csv), json.loads(js.read_text())


def main(argv: list[str] | None = None) -> None:
    import shlex
    import sys

    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m helpers.study", description=__doc__.split("\n\n")[0])
    for f in fields(StudyConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.name == "model_config":
            p.add_argument(flag, type=json.loads, default=None)
        elif isinstance(f.default, tuple):
            p.add_argument(flag, nargs="+", type=type(f.default[0]), default=None)
        else:
            p.add_argument(flag, type=type(f.default), default=None)
    p.add_argument("--out", default=".")
    args = p.parse_args(argv)
    cfg = StudyConfig(
        **{
            f.name: tuple(v) if isinstance(v, list) else v
            for f in fields(StudyConfig)
            if (v := getattr(args, f.name)) is not None
        }
    )
    rows = run_study(cfg)
    paths = save_study(rows, cfg, args.out, "python -m helpers.study " + " ".join(shlex.quote(a) for a in argv))
    print(summarize(rows).round(4).to_string())
    print("wrote", *paths)


if __name__ == "__main__":
    main()
