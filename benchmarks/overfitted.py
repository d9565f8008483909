"""The overfitted codec on CBSD68, resumable: one encode per (image, quality, effort), each result cached as it lands.

    python benchmarks/overfitted.py                                    # default effort, qualities 1 3 5 7
    python benchmarks/overfitted.py --effort fast
    python benchmarks/overfitted.py --report                           # measure nothing: rebuild the report

An encode trains a network on the image (minutes at the default effort), so the sweep runs for hours: start it in
the background, one process per core (each on one torch thread), and start it again after an interruption: every
finished encode is a file ``benchmarks/results/overfitted/<set>/<image>-q<Q>-<effort>-r<RECIPE>.json`` (bytes,
bpp, PSNR, MS-SSIM, encode and decode seconds, decoder MAC/pixel, the steps' quantization) and is never redone (a
new ``RECIPE`` of the encoder starts afresh). Two processes
may share the folder: each claims an encode with a lock file first.

The images are fixed before measuring: every second file of the sorted CBSD68 list (34 of 68), named in the
report. The report (``rd-<set>-overfitted.md`` and ``.csv``) puts the overfitted curves beside the classical
codecs' rows of ``rd-<set>.csv`` on the same images (written by ``benchmarks/rd.py``), with BD-rates against JPEG,
WebP and AVIF, over the overlap each one is fitted on.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
import torch

from helpers.datasets import DatasetUnavailable, load_images
from helpers.evaluate import saved_rows
from helpers.metrics import evaluate
from helpers.models import OverfittedCodec
from helpers.models.overfitted import RECIPE, OverfittedNet
from helpers.rd import bd_rate_table, rd_curve

sys.path.insert(0, str(Path(__file__).resolve().parent))
from readme_block import write_block

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
QUALITIES = (1, 3, 5, 7)
README = ROOT / "README.md"
README_KEY = "overfitted-summary"
CONTEXT = ("JPEG", "WebP", "JPEG 2000", "AVIF", "factorized", "cae")  # measured by rd.py on the same photos


def subset(names: list[str]) -> list[str]:
    """Every second image of the sorted names: fixed before any measurement."""
    return sorted(names)[::2]


def encode_one(codec: OverfittedCodec, x: torch.Tensor, quality: int, effort: str) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    data = codec.compress(x, quality=quality, effort=effort)
    encode_s, encode_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    decode_s = []
    for _ in range(3):
        t0 = time.perf_counter()
        x_hat = codec.decompress(data)
        decode_s.append(time.perf_counter() - t0)
    h, w = x.shape[-2:]
    net = OverfittedNet(h, w, codec.arm_hidden, codec.syn_hidden, codec.syn_depth, codec.context)
    return {
        "bytes": len(data),
        "bpp": 8 * len(data) / (h * w),
        **{k: float(v) for k, v in evaluate(x, x_hat).items()},
        "encode_s": encode_s,
        "encode_cpu_s": encode_cpu_s,  # CPU seconds: what a paused or crowded run cannot inflate
        "decode_s": min(decode_s),
        "macs_per_pixel": net.macs_per_pixel(),
        "parts": codec.last_fit["bytes"],
        "steps_k": codec.last_fit["steps_k"],
        "fit_history": codec.last_fit["history"][-1],
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def sweep(image_set: str, qualities, effort: str, out: Path) -> None:
    images = load_images(image_set)
    chosen = subset(list(images))
    folder = out / "overfitted" / image_set
    folder.mkdir(parents=True, exist_ok=True)
    codec = OverfittedCodec()
    codec._show = False
    for name in chosen:
        for q in qualities:
            path = folder / f"{name}-q{q}-{effort}-r{RECIPE}.json"
            lock = path.with_suffix(".lock")
            if path.exists():
                continue
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # another process has this one
            except FileExistsError:
                continue
            os.close(fd)
            try:
                row = {"image": name, "quality": q, "effort": effort, "recipe": RECIPE}
                row |= encode_one(codec, images[name], q, effort)
                tmp = path.with_suffix(".part")
                tmp.write_text(json.dumps(row, indent=1) + "\n")
                tmp.replace(path)
                done = f"{row['bpp']:.3f} bpp {row['psnr']:.2f} dB {row['encode_s']:.0f} s"
                print(f"{name} q{q} {effort}: {done}", flush=True)
            finally:
                lock.unlink(missing_ok=True)


def rows(image_set: str, out: Path = RESULTS) -> pd.DataFrame:
    """Every finished encode of a set as rows shaped like ``rd_sweep``'s (codec ``overfitted (effort)``)."""
    frame = saved_rows(out / "overfitted" / image_set, f"*-r{RECIPE}.json")
    if frame.empty:
        return frame
    return frame.assign(codec="overfitted (" + frame.effort + ")", setting=frame.quality)


def summary(image_set: str = "cbsd68", out: Path = RESULTS) -> str:
    """The report, from the cached encodes and ``rd-<set>.csv`` alone: BD-rates on the photos every quality of an
    effort has finished, against the classical codecs and the amortized models measured on the same photos, and
    the codec's speed and decoder size."""
    found = rows(image_set, out)
    lines = [
        f"The overfitted codec (recipe {RECIPE}) on `{image_set}`, held out by construction (it trains on each "
        "photo alone): every second file of the sorted list, 4 qualities (1, 3, 5, 7) per photo, "
        "`python benchmarks/overfitted.py` (resumable; one encode per core on one thread).",
        "",
    ]
    csv = out / f"rd-{image_set}.csv"
    if found.empty or not csv.exists():
        return "\n".join([*lines, "Not measured yet.", ""])
    classical = pd.read_csv(csv, dtype={"image": str})
    planned = len(subset(classical.image.unique().tolist()))
    blocks = []
    for effort, r in found.groupby("effort"):
        done = r.groupby("image").quality.nunique()
        images = sorted(done[done == len(QUALITIES)].index)
        if not images:
            continue
        r = r[r.image.isin(images)]
        same = classical[classical.image.isin(images) & classical.codec.isin(CONTEXT)]
        curves = rd_curve(pd.concat([same, r[same.columns.intersection(r.columns)]], ignore_index=True))
        label = f"overfitted ({effort})"
        table = {}
        for anchor in ("JPEG", "WebP", "AVIF"):
            with warnings.catch_warnings():  # a pair with no shared range is written as such
                warnings.simplefilter("ignore", UserWarning)
                bd = bd_rate_table(curves, anchor=anchor)
            table[f"vs {anchor}, PSNR"] = bd.iloc[:, 0]
            table[f"vs {anchor}, MS-SSIM"] = bd.iloc[:, 1]
        frame = pd.DataFrame(table)
        frame = frame.loc[[i for i in [label, "JPEG 2000", "factorized", "cae"] if i in frame.index]]
        # CPU seconds; encodes cached before they were recorded count their wall seconds
        cpu = r["encode_cpu_s"].fillna(r.encode_s) if "encode_cpu_s" in r else r.encode_s
        speed = {
            "encode CPU s per Mpixel": cpu.sum() / (r.bytes * 8 / r.bpp).sum() * 1e6,
            "decode Mpixel/s": (r.bytes * 8 / r.bpp).sum() / r.decode_s.sum() / 1e6,
            "decoder MAC/pixel": r.macs_per_pixel.mean(),
            "weights, bytes (mean)": r.parts.map(lambda p: sum(p["weights"].values())).mean(),
        }
        blocks += [
            f"**{effort} effort**, {len(images)} of {planned} photos finished ({', '.join(images)}). BD-rate in % "
            "(negative: fewer bytes than the anchor for the same quality), the amortized models and JPEG 2000 on "
            "the same photos for context:",
            "",
            frame.map(lambda v: "no overlap" if pd.isna(v) else f"{v:+.1f}")
            .rename_axis("codec")
            .to_markdown(disable_numparse=True),
            "",
            pd.DataFrame([speed]).to_markdown(index=False, floatfmt=".3g"),
            "",
            "Rate points (mean over the photos): "
            + "; ".join(f"q{q}: {g.bpp.mean():.3f} bpp, {g.psnr.mean():.2f} dB" for q, g in r.groupby("quality"))
            + f". Measured on {r.threads.iloc[0]} torch thread(s), torch {r.torch.iloc[0]}.",
            "",
        ]
    return "\n".join(lines + (blocks or ["No photo has all four qualities yet.", ""]))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", default="cbsd68")
    p.add_argument("--qualities", nargs="*", type=int, default=list(QUALITIES))
    p.add_argument("--effort", default="default", choices=["fast", "default", "best"])
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument("--threads", type=int, default=1, help="torch threads of this process (one per core)")
    p.add_argument("--report", action="store_true", help="measure nothing: rebuild the report from the cache")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    if not args.report:
        try:
            sweep(args.images, args.qualities, args.effort, out)
        except DatasetUnavailable as err:
            sys.exit(f"{args.images}: {err}")
    text = summary(args.images, out)
    (out / f"rd-{args.images}-overfitted.md").write_text(f"# The overfitted codec on {args.images}\n\n{text}")
    if out.resolve() == RESULTS.resolve() and args.images == "cbsd68":
        write_block(README, README_KEY, text, "python benchmarks/overfitted.py --report")
    print(text)


if __name__ == "__main__":
    main()
