"""Rate-distortion of every shipped learned model and every classical codec (JPEG XL included when imagecodecs is
installed), from real file bytes.

    python benchmarks/rd.py                                  # embedded test photos, plus cbsd68/mcmaster if present
    python benchmarks/rd.py --images default cbsd68 --out benchmarks/results
    python benchmarks/rd.py --images /path/to/photos --models factorized-q1 factorized-q2 --codecs JPEG WebP

For each image set it writes, into ``--out``:

* ``rd-SET.csv``: one row per (codec, setting, image): bytes, bpp, PSNR, SSIM, MS-SSIM, encode/decode seconds;
* ``rd-SET.png``: PSNR and MS-SSIM (dB) against bpp;
* ``rd-SET.md``: BD-rate tables against JPEG and against WebP, and the training budget of each learned model.

bpp is always ``8 * len(file) / pixels``. A set that a model was trained on is flagged in its report.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from helpers import checkpoints  # noqa: E402
from helpers.codec.api import GenerativeFamily, LearnedCodecFamily, load_model  # noqa: E402
from helpers.codecs import classical_codecs, rd_sweep  # noqa: E402
from helpers.data import DatasetUnavailable, load_images  # noqa: E402
from helpers.rd import bd_rate_table, plot_rd, rd_curve  # noqa: E402

ANCHORS = ("JPEG", "WebP")


def run_set(source: str, codecs, fams, out: Path, quick: bool) -> str:
    images = load_images(source)
    tag = Path(source).name if Path(source).is_dir() else source
    t0 = time.time()
    rows = rd_sweep(images, codecs + fams, quick=quick)
    rows.to_csv(out / f"rd-{tag}.csv", index=False)
    curves = rd_curve(rows)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    plot_rd(curves, "psnr", ax=axes[0], title=f"{tag}: {len(images)} images")
    plot_rd(curves, "ms_ssim_db", ax=axes[1])
    for ax in axes:
        ax.set_xlim(0, 1.6)
    fig.tight_layout()
    fig.savefig(out / f"rd-{tag}.png", dpi=110)
    plt.close(fig)

    pixels = sum(x.shape[-1] * x.shape[-2] for x in images.values())
    lines = [f"# Rate-distortion on `{tag}` ({len(images)} images, {pixels / 1e6:.2f} Mpixels)", ""]
    same = {"default": "default-test"}.get(tag, tag)  # the embedded test photos are a split of their own
    trained_on = sorted({n for f in fams for n in f.checkpoints
                         if same in {s.strip() for s in str(load_model(n).meta.get("data", "")).split(",")}})
    if trained_on:
        lines += [f"**Not held out:** {', '.join(trained_on)} trained on this set; read its numbers as training fit.",
                  ""]
    lines += ["bpp from file bytes; PSNR on 8-bit RGB; BD-rate: cubic fit over the shared quality range "
              "(negative = fewer bytes than the anchor for the same quality).", ""]
    for anchor in ANCHORS:
        if anchor in set(curves.codec):
            table = bd_rate_table(curves, anchor=anchor)
            lines += [f"## BD-rate against {anchor}", "", table.to_markdown(floatfmt=".1f"), ""]
    learned = curves[curves.codec.isin([f.name for f in fams])]
    if len(learned):
        lines += ["## Learned models: rate points", "",
                  learned[["codec", "setting", "bpp", "psnr", "ms_ssim_db", "encode_s", "decode_s"]]
                  .set_index("setting").to_markdown(floatfmt=".3f"), "",
                  "## Training budget (warm starts included)", "",
                  checkpoints.budget(n for f in fams for n in f.checkpoints).to_markdown(floatfmt=".4g"),
                  ""]
    lines += [f"Measured in {time.time() - t0:.0f} s with torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads; `python benchmarks/rd.py {' '.join(sys.argv[1:])}`.", ""]
    report = "\n".join(lines)
    (out / f"rd-{tag}.md").write_text(report)
    return report


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", nargs="*", default=["default", "cbsd68", "mcmaster"],
                   help="image sets: default, cbsd68, mcmaster, kodak or folders (absent shared sets are skipped)")
    p.add_argument("--models", nargs="*", default=None, help="learned checkpoints (default: every shipped one)")
    p.add_argument("--codecs", nargs="*", default=None, help="classical codecs (default: JPEG, JPEG 2000, WebP, AVIF, and JPEG XL if installed)")
    p.add_argument("--quick", action="store_true", help="the classical codecs' shorter quick sweeps")
    p.add_argument("--out", default="benchmarks/results")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    codecs = classical_codecs(args.codecs or "all")  # JPEG XL too, where imagecodecs is installed
    fams = (LearnedCodecFamily.group(args.models) if args.models
            else LearnedCodecFamily.shipped() + GenerativeFamily.shipped())
    if not fams:
        print("no shipped learned models: measuring the classical codecs only", file=sys.stderr)
    for source in args.images:
        try:
            print(run_set(source, codecs, fams, out, args.quick))
        except DatasetUnavailable as err:
            print(f"skipping {source}: {err}", file=sys.stderr)


if __name__ == "__main__":
    main()
