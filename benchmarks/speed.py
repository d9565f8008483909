"""Encode and decode speed (megapixels per second), peak memory and training speed, on this machine's CPU.

    python benchmarks/speed.py                       # every shipped model + the classical codecs (+ the peer)
    python benchmarks/speed.py --threads 1 --repeats 5 --out benchmarks/results
    python benchmarks/speed.py --large factorized-q3 cae-q3    # + a 4000x3000 photo, in tiles and whole

Each codec is measured in a fresh process on the embedded test photos (plus a 1024x1024 mosaic of them, to see
how speed scales with size): one warm-up round trip, then the median of ``--repeats`` timed ones. Peak memory is
that process's peak resident set size, next to the same figure for a process that only imported the package
(the baseline every learned codec pays once). Results go to ``speed.csv`` and ``speed.md`` in ``--out``.

JPEG XL is measured too where imagecodecs is installed (``pip install 'nic-book[jxl]'``). The CompressAI peer's
checkpoints (``benchmarks/peers/``, see ``benchmarks/rd.py``) are measured too when they exist
and CompressAI is installed. ``--large`` codes one 4000x3000 photo (an embedded photo upscaled) with each named
model twice, once as shipped (transforms in tiles above 4 Mpixels) and once computed whole, and reports time, peak
memory and whether the two files are the same bytes.

Everything measured also goes to ``speed.json``; when ``--out`` is the committed ``benchmarks/results``, a summary
table replaces the ``<!-- speed-summary -->`` block of README.md (``--summary-only`` rebuilds it from the JSON).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

#: one mid-quality setting per classical codec (JPEG XL's is its Butteraugli distance; 1.5 sits near JPEG at 75)
CLASSICAL_SETTINGS = {"JPEG": 75, "JPEG 2000": 24, "WebP": 75, "AVIF": 60, "JPEG XL": 1.5}
SETTING_NAMES = {"JPEG": "quality", "JPEG 2000": "ratio", "WebP": "quality", "AVIF": "quality", "JPEG XL": "distance"}
TRAIN_BATCH, TRAIN_PATCH = 8, 128
LARGE = (3000, 4000)
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
README_KEY = "speed-summary"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _images():
    import torch

    from helpers.datasets import default_images

    imgs = default_images("test")
    tiles = [x[:, :512, :512] for x in imgs.values() if min(x.shape[1:]) >= 512]
    tiles = (tiles * 4)[:4]
    imgs["mosaic-1024"] = torch.cat([torch.cat(tiles[:2], 2), torch.cat(tiles[2:], 2)], 1)
    return imgs


def measure_one(kind: str, name: str, repeats: int) -> dict:
    """Runs inside a fresh process: time one codec (or one training setup) and report peak memory."""
    import torch

    if kind == "baseline":
        import helpers.codec  # noqa: F401

        return {"peak_mb": _peak_mb()}
    if kind == "train":  # the trainer's own step (helpers.train.fit), aux step included for the peer
        from helpers.datasets import default_images, random_patches
        from helpers.models import ARCHITECTURES
        from helpers.train import TrainConfig, fit, optimizers_for
        from helpers.train.plans import CAE_CONFIG, FP_CONFIG

        conf = CAE_CONFIG if name == "ConvAutoencoder" else FP_CONFIG
        model = ARCHITECTURES[name](**conf).train()
        opts, _ = optimizers_for(TrainConfig(arch=name), model, "cpu")
        x = random_patches(
            list(default_images("train").values()), TRAIN_BATCH, TRAIN_PATCH, torch.Generator().manual_seed(0)
        )
        stamps = []
        fit(
            model,
            lambda s: x,
            opts["model"],
            start=0,
            steps=repeats + 3,
            lmbda=0.013,
            lr_at=lambda s: 1e-4,
            on_step=lambda s, parts: stamps.append(time.perf_counter()),
            aux_optimizer=opts.get("aux"),
        )
        times = [b - a for a, b in itertools.pairwise(stamps[1:])]  # the first two steps warm up
        return {"steps_per_s": 1 / statistics.median(times), "peak_mb": _peak_mb()}
    if kind in ("large", "large-whole"):
        import torch.nn.functional as F

        from helpers.codec.api import load_model
        from helpers.datasets import default_images
        from helpers.metrics import psnr
        from helpers.models.base import Codec

        model = load_model(name)
        if kind == "large-whole":
            Codec.tile_above = 10**15
        x = F.interpolate(default_images("test")["coffee"][None], size=LARGE, mode="bilinear", align_corners=False)[
            0
        ].clamp(0, 1)
        before = _peak_mb()
        t0 = time.perf_counter()
        data = model.compress(x)
        t1 = time.perf_counter()
        x_hat = model.decompress(data)
        t2 = time.perf_counter()
        return {
            "encode_s": t1 - t0,
            "decode_s": t2 - t1,
            "bytes": len(data),
            "psnr": float(psnr(x, x_hat)),
            "sha1": hashlib.sha1(data).hexdigest(),
            "peak_mb": _peak_mb(),
            "before_mb": before,
        }

    from helpers.classical import classical_codecs
    from helpers.codec.api import load_model

    if kind == "classical":
        codec, setting = classical_codecs([name])[0], CLASSICAL_SETTINGS[name]
        enc, dec = (lambda x: codec.compress(x, setting)), codec.decompress
    else:
        model = load_model(name)
        enc, dec = model.compress, model.decompress
    rows = {}
    for image, x in _images().items():
        data = enc(x)  # warm-up (and the learned models' coding tables)
        dec(data)
        te, td = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            data = enc(x)
            t1 = time.perf_counter()
            dec(data)
            td.append(time.perf_counter() - t1)
            te.append(t1 - t0)
        mp = x.shape[1] * x.shape[2] / 1e6
        rows[image] = {
            "mpix": mp,
            "bpp": 8 * len(data) / (mp * 1e6),
            "encode_mp_s": mp / statistics.median(te),
            "decode_mp_s": mp / statistics.median(td),
        }
    return {"images": rows, "peak_mb": _peak_mb()}


def _child(kind: str, name: str, repeats: int, threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [sys.executable, __file__, "--one", kind, name, "--repeats", str(repeats)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[1])
    if r.returncode:
        raise RuntimeError(f"{kind} {name} failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="*", default=None, help="learned checkpoints (default: every shipped one)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch/OpenMP threads per measurement (default 1)")
    p.add_argument(
        "--large",
        nargs="*",
        default=None,
        metavar="MODEL",
        help=f"also code a {LARGE[1]}x{LARGE[0]} photo with these models (--large alone: factorized-q3, "
        "cae-q3, generative and the peer's q3 when present), in tiles and whole",
    )
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--one", nargs=2, metavar=("KIND", "NAME"), help=argparse.SUPPRESS)
    p.add_argument(
        "--summary-only", action="store_true", help="measure nothing: rebuild the README block from speed.json in --out"
    )
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(measure_one(*args.one, args.repeats)))
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from readme_block import write_block

    readme = ROOT / "README.md" if Path(args.out).resolve() == RESULTS else None
    if args.summary_only:
        text = summary(json.loads((Path(args.out) / "speed.json").read_text()))
        if readme:
            write_block(readme, README_KEY, text, "python benchmarks/speed.py")
        print(text)
        return

    import pandas as pd

    from helpers.codec.api import list_models

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from helpers.models import compressai_available
    from helpers.train.plans import PEER, PEER_DIR

    peers = [c.export for c in PEER if c.export.startswith(PEER_DIR) and (ROOT / c.export).exists()]
    peers = peers if compressai_available() else []
    base = _child("baseline", "-", 1, args.threads)["peak_mb"]
    rows = []
    from helpers.classical import OPTIONAL

    classical = [n for n in CLASSICAL_SETTINGS if n not in OPTIONAL or OPTIONAL[n].available()]
    jobs = [("classical", n) for n in classical] + [("learned", n) for n in (args.models or list_models())]
    jobs += [("learned", p) for p in peers if args.models is None]
    for kind, name in jobs:
        res = _child(kind, name, args.repeats, args.threads)
        for image, r in res["images"].items():
            rows.append(
                {
                    "codec": Path(name).stem if kind == "learned" else name,
                    "kind": kind,
                    "image": image,
                    **r,
                    "peak_mb": res["peak_mb"],
                    "above_import_mb": res["peak_mb"] - base,
                }
            )
        print(f"{name}: done", file=sys.stderr)
    df = pd.DataFrame(rows)
    df.to_csv(out / "speed.csv", index=False)
    photos = (
        df[df.image != "mosaic-1024"]
        .groupby(["codec", "kind"], sort=False)
        .agg(
            encode_mp_s=("encode_mp_s", "median"),
            decode_mp_s=("decode_mp_s", "median"),
            peak_mb=("peak_mb", "max"),
            above_import_mb=("above_import_mb", "max"),
        )
    )
    mosaic = df[df.image == "mosaic-1024"].set_index("codec")[["encode_mp_s", "decode_mp_s"]]
    table = photos.reset_index("kind").join(mosaic.add_suffix(" 1024x1024"))
    archs = ["FactorizedPrior", "ConvAutoencoder"] + (["CompressAIFactorized"] if compressai_available() else [])
    train = {a: _child("train", a, args.repeats, args.threads) for a in archs}
    cpu = platform.processor() or platform.machine()
    lines = [
        f"# Speed on the CPU ({os.cpu_count()} cores, {cpu}), {args.threads} thread(s)",
        "",
        "Median over the embedded test photos (0.26-0.27 Mpixels) and, separately, a 1024x1024 mosaic; "
        f"classical settings { {n: CLASSICAL_SETTINGS[n] for n in classical} }. "
        "Peak memory is the measuring process's peak RSS, and that "
        f"peak above a process that only imports the package ({base:.0f} MB, mostly torch).",
        "",
        table.to_markdown(floatfmt=".2f"),
        "",
        f"Training (batch {TRAIN_BATCH} x {TRAIN_PATCH}x{TRAIN_PATCH}, Adam, the shipped configurations):",
        "",
        *[f"- {a}: {r['steps_per_s']:.2f} steps/s, peak {r['peak_mb']:.0f} MB" for a, r in train.items()],
        "",
    ]
    if args.large is not None:
        names = args.large or ["factorized-q3", "cae-q3", "generative", *[p for p in peers if p.endswith("-q3.pt")]]
        large = []
        for name in names:
            tiles, whole = (_child(kind, name, 1, args.threads) for kind in ("large", "large-whole"))
            large.append(
                {
                    "model": Path(name).stem,
                    "encode s": tiles["encode_s"],
                    "decode s": tiles["decode_s"],
                    "peak MB": tiles["peak_mb"],
                    "above image MB": tiles["peak_mb"] - tiles["before_mb"],
                    "whole: encode s": whole["encode_s"],
                    "whole: decode s": whole["decode_s"],
                    "whole: above image MB": whole["peak_mb"] - whole["before_mb"],
                    "same bytes": tiles["sha1"] == whole["sha1"],
                    "bpp": 8 * tiles["bytes"] / (LARGE[0] * LARGE[1]),
                    "PSNR": tiles["psnr"],
                }
            )
            print(f"{name}: large done", file=sys.stderr)
        lines += [
            f"A {LARGE[1]}x{LARGE[0]} photo (12 Mpixels; `coffee` upscaled), one round trip: as shipped "
            "(transforms in tiles of 1024x1024 pixels plus their margin, above 4 Mpixels) and computed whole. "
            "'above image MB': peak RSS above the process before coding (with the image loaded).",
            "",
            pd.DataFrame(large).set_index("model").to_markdown(floatfmt=".2f"),
            "",
        ]
    command = f"python benchmarks/speed.py {' '.join(sys.argv[1:])}".strip()
    lines += [f"`{command}`", ""]
    (out / "speed.md").write_text("\n".join(lines))
    print("\n".join(lines))
    results = {
        "cpu": f"{os.cpu_count()} cores, {cpu}",
        "threads": args.threads,
        "command": command,
        "settings": {n: CLASSICAL_SETTINGS[n] for n in classical},
        "import_mb": base,
        "codecs": table.reset_index().to_dict(orient="records"),
        "train": train,
        "large": large if args.large is not None else [],
    }
    (out / "speed.json").write_text(json.dumps(results, indent=1) + "\n")
    if readme:
        write_block(readme, README_KEY, summary(results), "python benchmarks/speed.py")


def _range(values, num=lambda v: f"{v:.0f}" if v >= 10 else f"{v:#.2g}") -> str:
    """``lo-hi`` of ``values`` (one number when they print the same), two significant digits below 10."""
    lo, hi = num(min(values)), num(max(values))
    return lo if lo == hi else f"{lo}-{hi}"


def summary(results: dict) -> str:
    """The README's speed table from ``speed.json``: Mpixel/s on the embedded photos, one row per classical codec
    and per learned family (the range over its rate points), training steps/s and the 4000x3000 photo."""
    import pandas as pd

    codecs = pd.DataFrame(results["codecs"])
    codecs["row"] = [c if k == "classical" else c.rsplit("-", 1)[0] for c, k in zip(codecs.codec, codecs.kind)]
    rows = []
    for row, g in codecs.groupby("row", sort=False):
        label = (
            f"{row} ({SETTING_NAMES.get(row, 'setting')} {results['settings'][row]})"
            if row in results["settings"]
            else f"{g.codec.iloc[0]}..{g.codec.iloc[-1].rsplit('-', 1)[-1]}"
            if len(g) > 1
            else g.codec.iloc[0]
        )
        rows.append(
            {
                "codec": label,
                "encode": _range(g.encode_mp_s),
                "decode": _range(g.decode_mp_s),
                "peak memory above `import helpers`": _range(g.above_import_mb, lambda v: f"{v:.0f}") + " MB",
            }
        )
    threads = f"{results['threads']} thread" + ("s" if results["threads"] > 1 else "")
    lines = [
        f"Mpixels per second on the embedded test photos, {threads} on this CPU "
        f"({results['cpu']}; `benchmarks/results/speed.md`: the 1024x1024 mosaic, the full table); a process "
        f"that only imports the package holds {results['import_mb']:.0f} MB (mostly torch).",
        "",
        pd.DataFrame(rows).to_markdown(index=False, colalign=("left", "right", "right", "right")),
        "",
        "Training (batch 8 of 128x128, Adam, the shipped configurations): "
        + ", ".join(f"{r['steps_per_s']:.2f} steps/s ({arch})" for arch, r in results["train"].items())
        + ".",
    ]
    if results["large"]:
        large = pd.DataFrame(
            [
                {
                    "model": r["model"],
                    "encode s": f"{r['encode s']:.0f}",
                    "decode s": f"{r['decode s']:.0f}",
                    "memory above the image, tiled": f"{r['above image MB'] / 1e3:.2f} GB",
                    "computed whole": f"{r['whole: above image MB'] / 1e3:.2f} GB",
                    "same bytes": "yes" if r["same bytes"] else "**no**",
                }
                for r in results["large"]
            ]
        )
        lines += [
            "",
            f"A {LARGE[1]}x{LARGE[0]} photo, one round trip (learned transforms in 1024x1024 tiles above 4 "
            "Mpixels, each with the context that makes its bytes those of the whole computation):",
            "",
            large.to_markdown(index=False, colalign=("left", "right", "right", "right", "right", "left")),
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
